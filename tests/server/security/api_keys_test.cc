#include "server/security/api_keys.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/server/security/test_certs.h"

namespace strata::server::security {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::TempDir;

TEST(ApiKeysTest, NoKeysMeansAuthenticationOff) {
  ApiKeys keys;
  EXPECT_FALSE(keys.enabled());
  EXPECT_FALSE(keys.Accepts(""));
  EXPECT_FALSE(keys.Accepts("anything"));
  auto loaded = ApiKeys::Load(config::ServerOptions{});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_FALSE(loaded->enabled());
}

TEST(ApiKeysTest, AcceptsExactlyTheListedKeys) {
  ApiKeys keys({"alpha", "beta-2", "alpha"});
  EXPECT_TRUE(keys.enabled());
  EXPECT_EQ(keys.size(), 2u);  // duplicates count once
  EXPECT_TRUE(keys.Accepts("alpha"));
  EXPECT_TRUE(keys.Accepts("beta-2"));
  for (const char* wrong : {"", "alph", "alphaa", "Alpha", "beta-", "beta-22", " alpha"}) {
    EXPECT_FALSE(keys.Accepts(wrong)) << wrong;
  }
}

TEST(ApiKeysTest, BearerHeader) {
  ApiKeys keys({"sekret"});
  EXPECT_TRUE(keys.AcceptsBearer("Bearer sekret"));
  EXPECT_TRUE(keys.AcceptsBearer("bearer sekret"));
  EXPECT_TRUE(keys.AcceptsBearer("BEARER   sekret  "));
  EXPECT_FALSE(keys.AcceptsBearer("Bearer sekre"));
  EXPECT_FALSE(keys.AcceptsBearer("sekret"));
  EXPECT_FALSE(keys.AcceptsBearer("Basic sekret"));
  EXPECT_FALSE(keys.AcceptsBearer("Bearersekret"));
  EXPECT_FALSE(keys.AcceptsBearer("Bearer "));
  EXPECT_FALSE(keys.AcceptsBearer(""));
  EXPECT_EQ(BearerToken("Bearer  abc "), "abc");
  EXPECT_EQ(BearerToken("Token abc"), std::nullopt);
}

TEST(ApiKeysTest, KeyFileSkipsBlankLinesAndComments) {
  auto keys = ApiKeys::ParseKeyFile(
      "\xEF\xBB\xBF# production keys\n"
      "\n"
      "key-one\n"
      "   key-two\t\r\n"
      "  # indented comment\n"
      "\r\n"
      "sk-3!$%&/=?\n"
      "last-without-newline",
      "keys.txt");
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_THAT(*keys, ElementsAre("key-one", "key-two", "sk-3!$%&/=?", "last-without-newline"));
}

TEST(ApiKeysTest, KeyFileErrorsNameTheFileAndLine) {
  auto spaced = ApiKeys::ParseKeyFile("# ok\ngood\nbad key # note\n", "/etc/keys");
  ASSERT_FALSE(spaced.ok());
  EXPECT_THAT(spaced.status().message(), HasSubstr("/etc/keys:3: a key must not contain"));
  EXPECT_THAT(spaced.status().message(), ::testing::Not(HasSubstr("bad key")));  // no echo
  auto control = ApiKeys::ParseKeyFile("a\x01z\n", "k");
  EXPECT_THAT(control.status().message(), HasSubstr("k:1:"));
  for (const char* empty : {"", "\n\n", "# only\n  # comments\n\n"}) {
    auto none = ApiKeys::ParseKeyFile(empty, "/etc/keys");
    ASSERT_FALSE(none.ok());
    EXPECT_EQ(none.status().message(),
              "/etc/keys: no API key in the file (only blank lines and # comments)");
  }
}

TEST(ApiKeysTest, LoadCombinesApiKeyAndTheKeyFile) {
  TempDir dir;
  config::ServerOptions options;
  options.api_key = "from-config";
  options.api_key_file = dir.Write("keys", "# team keys\nk1\n\nk2\n");
  auto keys = ApiKeys::Load(options);
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(keys->size(), 3u);
  for (const char* key : {"from-config", "k1", "k2"}) EXPECT_TRUE(keys->Accepts(key)) << key;
  EXPECT_FALSE(keys->Accepts("k3"));

  options.api_key.clear();
  auto file_only = ApiKeys::Load(options);
  ASSERT_TRUE(file_only.ok());
  EXPECT_EQ(file_only->size(), 2u);
}

TEST(ApiKeysTest, LoadErrorsNameTheConfigKeyAndFile) {
  TempDir dir;
  config::ServerOptions options;
  options.api_key_file = dir.File("missing");
  auto missing = ApiKeys::Load(options);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "server.api_key_file: cannot read '" + dir.File("missing") +
                                            "': No such file or directory");
  options.api_key_file = dir.path();  // a directory
  EXPECT_THAT(ApiKeys::Load(options).status().message(),
              HasSubstr("server.api_key_file: cannot read '" + dir.path() + "'"));
  options.api_key_file = dir.Write("empty", "# nothing yet\n");
  EXPECT_EQ(ApiKeys::Load(options).status().message(),
            "server.api_key_file: " + dir.File("empty") +
                ": no API key in the file (only blank lines and # comments)");
  options.api_key_file = dir.Write("bad", "ok\nnot ok\n");
  EXPECT_THAT(ApiKeys::Load(options).status().message(),
              HasSubstr("server.api_key_file: " + dir.File("bad") + ":2: "));
}

}  // namespace
}  // namespace strata::server::security
