// API keys on the HTTP listener: server.api_key combined with server.api_key_file.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/server/http/http_fixture.h"

namespace strata::server::testing {
namespace {

using ::testing::HasSubstr;

class HttpAuthTest : public HttpStackTest {
 protected:
  TempDir dir_;
};

TEST_F(HttpAuthTest, EveryListedKeyIsAcceptedAndOthersGetOpenAi401) {
  StackOptions options;
  options.server.api_key = "from-config";
  options.server.api_key_file = dir_.Write("keys",
                                           "# keys for the demo\n"
                                           "\n"
                                           "sk-team-a\n"
                                           "  sk-team-b  \r\n"
                                           "# sk-retired\n");
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  TestClient client(stack_->port());
  for (const char* key : {"from-config", "sk-team-a", "sk-team-b"}) {
    SCOPED_TRACE(key);
    const std::vector<std::pair<std::string, std::string>> auth = {
        {"Authorization", std::string("Bearer ") + key}};
    EXPECT_EQ(client.Get("/v1/models", auth).result_int(), 200);
    EXPECT_EQ(client.Post("/v1/completions", Completion(), auth).result_int(), 200);
  }
  const nlohmann::json missing = Body(client.Post("/v1/chat/completions", Completion()));
  for (const auto& [header, message] : std::vector<std::pair<std::string, std::string>>{
           {"", "Missing API key: send it as 'Authorization: Bearer <key>'."},
           {"Bearer sk-retired", "Incorrect API key provided."},
           {"Bearer # sk-retired", "Incorrect API key provided."},
           {"Bearer sk-team-", "Incorrect API key provided."},
           {"Basic sk-team-a", "Incorrect API key provided."}}) {
    SCOPED_TRACE(header);
    std::vector<std::pair<std::string, std::string>> headers;
    if (!header.empty()) headers.emplace_back("Authorization", header);
    Response response = client.Post("/v1/completions", Completion(), headers);
    EXPECT_EQ(response.result_int(), 401);
    EXPECT_EQ(Body(response),
              nlohmann::json::parse(R"({"error": {"message": ")" + message +
                                    R"(", "type": "authentication_error", "param": null,
                                        "code": "invalid_api_key"}})"));
  }
  // Probes and metrics need no key.
  EXPECT_EQ(client.Get("/health").result_int(), 200);
  EXPECT_EQ(client.Get("/ready").result_int(), 200);
  EXPECT_EQ(client.Get("/metrics").result_int(), 200);
}

TEST_F(HttpAuthTest, KeyFileAloneEnablesAuthentication) {
  StackOptions options;
  options.server.api_key_file = dir_.Write("keys", "only-key\n");
  ASSERT_NO_FATAL_FAILURE(StartServer(options));
  TestClient client(stack_->port());
  EXPECT_EQ(client.Get("/v1/models").result_int(), 401);
  EXPECT_EQ(client.Get("/v1/models", {{"Authorization", "Bearer only-key"}}).result_int(), 200);
}

TEST_F(HttpAuthTest, BadKeyFileFailsStartWithTheFileAndLine) {
  StackOptions options;
  options.server.api_key_file = dir_.File("absent");
  EXPECT_EQ(StartError(options), "server.api_key_file: cannot read '" + dir_.File("absent") +
                                     "': No such file or directory");
  options.server.api_key_file = dir_.Write("comments", "# to do\n\n");
  EXPECT_EQ(StartError(options), "server.api_key_file: " + dir_.File("comments") +
                                     ": no API key in the file (only blank lines and # comments)");
  options.server.api_key_file = dir_.Write("inline", "good\nkey # inline comment\n");
  EXPECT_THAT(StartError(options),
              HasSubstr("server.api_key_file: " + dir_.File("inline") + ":2: a key must not"));
}

}  // namespace
}  // namespace strata::server::testing
