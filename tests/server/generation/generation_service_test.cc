#include "server/generation/generation_service.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <future>
#include <mutex>

#include "worker/cpu_worker.h"

namespace strata::server {
namespace {

// A `tiny` model (real Qwen3 tokenizer, random weights) made once by strata-mkmodel.
class GenerationServiceTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* bin = std::getenv("STRATA_BINARY_DIR");
    model_dir_ = new std::string(std::filesystem::temp_directory_path() /
                                 ("strata-gen-test-" + std::to_string(getpid())));
    const std::string command = std::string(bin ? bin : "build") +
                                "/bin/strata-mkmodel --shape tiny --seed 3 --force --out " +
                                *model_dir_ + " > /dev/null";
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*model_dir_);
    delete model_dir_;
  }

  void SetUp() override {
    auto tokenizer = Tokenizer::Load(*model_dir_);
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
    tokenizer_ = std::move(*tokenizer);
    auto worker = worker::CpuWorker::Create(*model_dir_, {.block_size = 16, .num_blocks = 64});
    ASSERT_TRUE(worker.ok()) << worker.status();
    loop_ = std::make_unique<scheduler::EngineLoop>(std::move(*worker),
                                                    scheduler::EngineOptions{.max_model_len = 256},
                                                    scheduler::EngineLoopOptions{});
    loop_->Start();
    service_ = std::make_unique<GenerationService>(loop_.get(), tokenizer_.get());
  }

  struct Result {
    std::string text;
    std::vector<int32_t> tokens;
    std::string finish_reason;
    std::optional<std::string> stop_reason;
    int32_t completion_tokens = 0;
    int finals = 0;
  };

  Result Run(GenerationParams params) {
    auto result = std::make_shared<Result>();
    auto done = std::make_shared<std::promise<void>>();
    auto id = service_->Start(std::move(params), [result, done](GenerationEvent e) {
      EXPECT_TRUE(e.status.ok()) << e.status;
      result->text += e.text_delta;
      for (const auto& t : e.tokens) result->tokens.push_back(t.token);
      result->completion_tokens = e.completion_tokens;
      if (e.finish_reason || !e.status.ok()) {
        result->finish_reason = e.finish_reason.value_or("error");
        result->stop_reason = e.stop_reason;
        if (++result->finals == 1) done->set_value();
      }
    });
    EXPECT_TRUE(id.ok()) << id.status();
    if (id.ok()) done->get_future().wait();
    // Let any late engine event arrive; a second final event would show up in `finals`.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return *result;
  }

  GenerationParams Greedy(std::string prompt, int32_t max_tokens) {
    GenerationParams p;
    p.prompt_tokens = tokenizer_->Encode(prompt);
    p.max_tokens = max_tokens;
    p.sampling.temperature = 0.0f;
    p.ignore_eos = true;
    return p;
  }

  static std::string* model_dir_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<scheduler::EngineLoop> loop_;
  std::unique_ptr<GenerationService> service_;
};
std::string* GenerationServiceTest::model_dir_ = nullptr;

TEST_F(GenerationServiceTest, DeltasConcatenateToTheFullDecode) {
  Result r = Run(Greedy("Hello, world", 40));
  EXPECT_EQ(r.finish_reason, "length");
  EXPECT_EQ(r.tokens.size(), 40u);
  EXPECT_EQ(r.completion_tokens, 40);
  EXPECT_EQ(r.text, tokenizer_->Decode(r.tokens, /*skip_special_tokens=*/true));
  EXPECT_EQ(r.finals, 1);
}

TEST_F(GenerationServiceTest, StopStringEndsTheTextBeforeIt) {
  Result full = Run(Greedy("Once upon a time", 40));
  ASSERT_GE(full.text.size(), 12u);
  // A stop string taken from the middle of the greedy output (greedy is deterministic).
  std::string stop = full.text.substr(6, 4);
  const size_t first = full.text.find(stop);
  GenerationParams p = Greedy("Once upon a time", 40);
  p.stop = {stop};
  Result r = Run(p);
  EXPECT_EQ(r.finish_reason, "stop");
  EXPECT_EQ(r.stop_reason, stop);
  EXPECT_EQ(r.text, full.text.substr(0, first));
  EXPECT_EQ(r.finals, 1) << "the engine's abort after the match is not a second final event";
  EXPECT_EQ(loop_->Metrics().kv_blocks_used, 0);
}

TEST_F(GenerationServiceTest, SeedMakesSamplingReproducible) {
  GenerationParams p = Greedy("Seeded", 24);
  p.sampling.temperature = 1.0f;
  p.seed = 1234;
  Result a = Run(p), b = Run(p);
  EXPECT_EQ(a.tokens, b.tokens);
  p.seed = 99;
  EXPECT_NE(Run(p).tokens, a.tokens);
}

TEST_F(GenerationServiceTest, ContextLimitIsCheckedUpFront) {
  GenerationParams p = Greedy("x", 300);
  auto id = service_->Start(p, [](GenerationEvent) {});
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(id.status().message().find("maximum context length is 256"), absl::string_view::npos)
      << id.status();
  p.max_tokens = 0;  // up to the context length
  Result r = Run(p);
  EXPECT_EQ(r.finish_reason, "length");
  EXPECT_EQ(r.completion_tokens + static_cast<int32_t>(tokenizer_->Encode("x").size()), 256);
}

TEST_F(GenerationServiceTest, BadPromptsAreRefused) {
  GenerationParams p;
  EXPECT_EQ(service_->Start(p, [](GenerationEvent) {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  p.prompt_tokens = {1 << 30};
  EXPECT_EQ(service_->Start(p, [](GenerationEvent) {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace strata::server
