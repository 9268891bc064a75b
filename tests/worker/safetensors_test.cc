#include "worker/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace strata::worker {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::string Message(const absl::Status& status) { return std::string(status.message()); }

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "safetensors_test.XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  // A file made of the 8-byte length, `header` and `data_bytes` bytes of data.
  std::string WriteRaw(const std::string& name, const std::string& header, size_t data_bytes,
                       std::optional<uint64_t> declared_length = std::nullopt) {
    std::string bytes(8, '\0');
    uint64_t n = declared_length.value_or(header.size());
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(n >> (8 * i));
    bytes += header;
    bytes.append(data_bytes, '\x01');
    std::ofstream(Path(name), std::ios::binary) << bytes;
    return Path(name);
  }

  // Opens a file holding one raw header and expects an error naming the file and `needle`.
  void ExpectOpenError(const std::string& header, size_t data_bytes, const std::string& needle) {
    std::string path = WriteRaw("bad.safetensors", header, data_bytes);
    auto file = SafetensorsFile::Open(path);
    ASSERT_FALSE(file.ok()) << header;
    EXPECT_THAT(Message(file.status()), AllOf(HasSubstr(path), HasSubstr(needle))) << header;
  }

  std::string dir_;
};

// Values exactly representable in bf16, f16 and f32.
float TestValue(size_t i) { return static_cast<float>(static_cast<int>(i % 17) - 8) * 0.25f; }

void FillWithTestValues(DType dtype, std::span<std::byte> bytes) {
  size_t n = bytes.size() / DTypeSize(dtype);
  for (size_t i = 0; i < n; ++i) {
    float v = TestValue(i);
    if (dtype == DType::kF32) {
      std::memcpy(bytes.data() + 4 * i, &v, 4);
    } else {
      uint16_t bits = dtype == DType::kBF16 ? FloatToBF16(v) : FloatToF16(v);
      std::memcpy(bytes.data() + 2 * i, &bits, 2);
    }
  }
}

class RoundTripTest : public SafetensorsTest, public ::testing::WithParamInterface<DType> {};

TEST_P(RoundTripTest, WriteThenRead) {
  const DType dtype = GetParam();
  std::vector<TensorSpec> specs = {{"b.weight", dtype, {3, 5}},
                                   {"a.bias", dtype, {7}},
                                   {"scalar", dtype, {}},
                                   {"empty", dtype, {0, 4}}};
  std::string path = Path("model.safetensors");
  ASSERT_TRUE(
      WriteSafetensors(path, specs, {{"format", "pt"}}, [&](size_t, std::span<std::byte> bytes) {
        FillWithTestValues(dtype, bytes);
      }).ok());

  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  const SafetensorsHeader& header = (*file)->header();
  EXPECT_EQ(header.data_offset % 8, 0u);  // padded like the reference writer
  EXPECT_EQ(header.metadata.at("format"), "pt");
  ASSERT_EQ(header.tensors.size(), 4u);
  EXPECT_EQ(header.tensors[0].name, "a.bias");  // sorted by name
  EXPECT_EQ(fs::file_size(path), header.data_offset + (15 + 7 + 1) * DTypeSize(dtype));

  auto view = (*file)->Tensor("b.weight");
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->dtype, dtype);
  EXPECT_THAT(std::vector<int64_t>(view->shape.begin(), view->shape.end()),
              ::testing::ElementsAre(3, 5));
  EXPECT_EQ(view->NumElements(), 15);
  EXPECT_EQ(view->nbytes, 15 * DTypeSize(dtype));
  EXPECT_EQ(view->file, path);

  auto checkpoint = Checkpoint::Open(dir_);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_THAT((*checkpoint)->TensorNames(),
              ::testing::ElementsAre("a.bias", "b.weight", "empty", "scalar"));
  std::vector<float> values(15);
  const int64_t shape[] = {3, 5};
  ASSERT_TRUE((*checkpoint)->ReadFloat("b.weight", shape, values.data()).ok());
  for (size_t i = 0; i < values.size(); ++i) EXPECT_EQ(values[i], TestValue(i)) << i;
  float scalar = 0;
  ASSERT_TRUE((*checkpoint)->ReadFloat("scalar", {}, &scalar).ok());
  EXPECT_EQ(scalar, TestValue(0));
  const int64_t empty_shape[] = {0, 4};
  EXPECT_TRUE((*checkpoint)->ReadFloat("empty", empty_shape, values.data()).ok());
}

INSTANTIATE_TEST_SUITE_P(DTypes, RoundTripTest,
                         ::testing::Values(DType::kBF16, DType::kF16, DType::kF32));

TEST_F(SafetensorsTest, HeaderMatchesReferenceLayout) {
  // The reference library's test vector: one F32 [1, 2, 3] tensor named "attn.0" gives a
  // 64-byte header (no padding needed) and 24 data bytes.
  std::string path = Path("ref.safetensors");
  ASSERT_TRUE(WriteSafetensors(path, {{"attn.0", DType::kF32, {1, 2, 3}}}, {},
                               [](size_t, std::span<std::byte>) {})
                  .ok());
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_EQ(bytes.size(), 8u + 64 + 24);
  EXPECT_EQ(bytes[0], 64);
  EXPECT_EQ(bytes.substr(8, 64),
            R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})");
}

TEST_F(SafetensorsTest, WriterRejectsBadSpecs) {
  auto noop = [](size_t, std::span<std::byte>) {};
  EXPECT_THAT(Message(WriteSafetensors(
                  Path("x"), {{"a", DType::kF32, {2}}, {"a", DType::kF32, {2}}}, {}, noop)),
              HasSubstr("duplicate"));
  EXPECT_THAT(Message(WriteSafetensors(Path("x"), {{"a", DType::kF32, {-1}}}, {}, noop)),
              HasSubstr("negative"));
  EXPECT_FALSE(fs::exists(Path("x")));
  EXPECT_FALSE(WriteSafetensors(dir_ + "/missing/x", {}, {}, noop).ok());
}

TEST_F(SafetensorsTest, TruncatedFileNamesFileAndTensor) {
  std::string path = Path("model.safetensors");
  ASSERT_TRUE(
      WriteSafetensors(path, {{"w", DType::kF32, {4, 4}}}, {}, [](size_t, std::span<std::byte>) {
      }).ok());
  fs::resize_file(path, fs::file_size(path) - 10);
  auto file = SafetensorsFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(Message(file.status()),
              AllOf(HasSubstr(path), HasSubstr("tensor 'w'"), HasSubstr("past the end")));

  fs::resize_file(path, 5);
  file = SafetensorsFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(Message(file.status()), AllOf(HasSubstr(path), HasSubstr("too short")));

  fs::resize_file(path, 0);
  EXPECT_FALSE(SafetensorsFile::Open(path).ok());
}

TEST_F(SafetensorsTest, HeaderLengthLies) {
  std::string header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::string path = WriteRaw("long.safetensors", header, 8, /*declared_length=*/100000);
  auto file = SafetensorsFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(Message(file.status()),
              AllOf(HasSubstr(path), HasSubstr("past the end of the file")));

  std::string huge(8, '\xff');
  auto parsed = ParseSafetensorsHeader(huge, uint64_t{1} << 40, "huge.safetensors");
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(Message(parsed.status()), AllOf(HasSubstr("huge.safetensors"), HasSubstr("limit")));

  std::string prefix_only = std::string("\x10\0\0\0\0\0\0\0", 8) + "{}";
  parsed = ParseSafetensorsHeader(prefix_only, 1000, "p.safetensors");
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(Message(parsed.status()), HasSubstr("truncated"));
}

TEST_F(SafetensorsTest, OffsetsThatLieAboutTheSize) {
  ExpectOpenError(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", 16,
                  "tensor 'w': data_offsets [0, 16] hold 16 bytes but shape [2] of F32 needs 8");
  ExpectOpenError(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8,
                  "tensor 'w': data_offsets [8, 0] end before they begin");
  ExpectOpenError(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4,
                  "tensor 'w': data_offsets [0, 8] extend past the end");
}

TEST_F(SafetensorsTest, OverlapsHolesAndTrailingBytes) {
  ExpectOpenError(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                  R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                  12, "tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]");
  ExpectOpenError(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                  R"("b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                  8, "overlap");
  ExpectOpenError(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8,
                  "tensor 'a': data_offsets [4, 8] leave a hole of 4 bytes at offset 0");
  ExpectOpenError(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 8,
                  "4 trailing bytes after the last tensor");
}

TEST_F(SafetensorsTest, MalformedEntries) {
  ExpectOpenError(R"({"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", 8,
                  "tensor 'w': unsupported dtype");
  ExpectOpenError(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4,
                  "tensor 'w': shape entry '-1' is not a non-negative integer");
  ExpectOpenError(R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4,
                  "is not a non-negative integer");
  ExpectOpenError(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})",
                  4, "tensor 'w': number of elements overflows");
  ExpectOpenError(R"({"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,4]}})", 4,
                  "tensor 'w': byte size overflows");
  ExpectOpenError(R"({"w":{"dtype":"F32","shape":[1]}})", 4, "\"data_offsets\"");
  ExpectOpenError(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4, "\"data_offsets\"");
  ExpectOpenError(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 4, "\"dtype\"");
  ExpectOpenError(R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", 4, "\"shape\"");
  ExpectOpenError(R"({"w":[1,2]})", 0, "tensor 'w': entry is not a JSON object");
}

TEST_F(SafetensorsTest, MalformedHeaders) {
  ExpectOpenError(R"({"w":{"dtype":"F32",)", 0, "invalid JSON header");
  ExpectOpenError(R"([1,2,3])", 0, "header is not a JSON object");
  ExpectOpenError(R"({"__metadata__":{"k":1}})", 0, "__metadata__ value for 'k' is not a string");
  ExpectOpenError(R"({"__metadata__":[]})", 0, "__metadata__ is not a JSON object");
  ExpectOpenError(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                  R"("w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                  8, "duplicate tensor name 'w'");
  ExpectOpenError(R"({"w":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}})", 4,
                  "duplicate key 'dtype'");
  ExpectOpenError(std::string(100, '[') + std::string(100, ']'), 0, "nested deeper");
}

TEST_F(SafetensorsTest, LenientWhereTheReferenceIs) {
  // Unknown fields, a null __metadata__, padding spaces and an empty file body are accepted.
  std::string path = WriteRaw(
      "ok.safetensors",
      R"({"__metadata__":null,"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4],"x":[{}]}}   )",
      4);
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE((*file)->header().metadata.empty());
  EXPECT_TRUE(SafetensorsFile::Open(WriteRaw("empty.safetensors", "{}", 0)).ok());
}

TEST_F(SafetensorsTest, OpenErrorsNameThePath) {
  auto missing = SafetensorsFile::Open(Path("nope.safetensors"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(missing.status()), HasSubstr(Path("nope.safetensors")));

  auto directory = SafetensorsFile::Open(dir_);
  ASSERT_FALSE(directory.ok());
  EXPECT_THAT(Message(directory.status()), AllOf(HasSubstr(dir_), HasSubstr("regular file")));

  auto checkpoint = Checkpoint::Open(dir_);
  ASSERT_FALSE(checkpoint.ok());
  EXPECT_THAT(Message(checkpoint.status()), AllOf(HasSubstr(dir_), HasSubstr("model.safetensors")));
}

TEST_F(SafetensorsTest, MissingTensorAndShapeMismatch) {
  ASSERT_TRUE(WriteSafetensors(Path("model.safetensors"), {{"w", DType::kBF16, {2, 3}}}, {},
                               [](size_t, std::span<std::byte>) {})
                  .ok());
  auto checkpoint = Checkpoint::Open(dir_);
  ASSERT_TRUE(checkpoint.ok());
  EXPECT_TRUE((*checkpoint)->Has("w"));
  EXPECT_FALSE((*checkpoint)->Has("v"));

  auto missing = (*checkpoint)->Tensor("lm_head.weight");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(missing.status()), AllOf(HasSubstr("'lm_head.weight'"), HasSubstr(dir_)));

  std::vector<float> out(6);
  const int64_t wrong[] = {3, 2};
  absl::Status status = (*checkpoint)->ReadFloat("w", wrong, out.data());
  EXPECT_THAT(Message(status), AllOf(HasSubstr(Path("model.safetensors")), HasSubstr("'w'"),
                                     HasSubstr("[2, 3]"), HasSubstr("[3, 2]")));
  const int64_t rank1[] = {6};
  EXPECT_FALSE((*checkpoint)->ReadFloat("w", rank1, out.data()).ok());
  EXPECT_FALSE((*checkpoint)->ReadFloat("v", rank1, out.data()).ok());
}

class ShardedTest : public SafetensorsTest {
 protected:
  void WriteShards() {
    auto fill = [](size_t, std::span<std::byte> bytes) { FillWithTestValues(DType::kF32, bytes); };
    ASSERT_TRUE(WriteSafetensors(Path("model-00001-of-00002.safetensors"),
                                 {{"a", DType::kF32, {2}}, {"b", DType::kF32, {3}}}, {}, fill)
                    .ok());
    ASSERT_TRUE(WriteSafetensors(Path("model-00002-of-00002.safetensors"),
                                 {{"c", DType::kF32, {4}}}, {}, fill)
                    .ok());
  }
  void WriteIndex(const std::string& text) {
    std::ofstream(Path("model.safetensors.index.json")) << text;
  }
};

TEST_F(ShardedTest, OpensAllShards) {
  WriteShards();
  WriteIndex(R"({"metadata":{"total_size":36},"weight_map":{
      "a":"model-00001-of-00002.safetensors","b":"model-00001-of-00002.safetensors",
      "c":"model-00002-of-00002.safetensors"}})");
  auto checkpoint = Checkpoint::Open(dir_);
  ASSERT_TRUE(checkpoint.ok()) << checkpoint.status();
  EXPECT_THAT((*checkpoint)->TensorNames(), ::testing::ElementsAre("a", "b", "c"));
  auto c = (*checkpoint)->Tensor("c");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->file, Path("model-00002-of-00002.safetensors"));
  std::vector<float> values(4);
  const int64_t shape[] = {4};
  ASSERT_TRUE((*checkpoint)->ReadFloat("c", shape, values.data()).ok());
  EXPECT_EQ(values[3], TestValue(3));
}

TEST_F(ShardedTest, IndexNamingAMissingShard) {
  WriteShards();
  WriteIndex(R"({"weight_map":{"a":"model-00001-of-00002.safetensors",
                               "z":"model-00003-of-00003.safetensors"}})");
  auto checkpoint = Checkpoint::Open(dir_);
  ASSERT_FALSE(checkpoint.ok());
  EXPECT_EQ(checkpoint.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(checkpoint.status()),
              AllOf(HasSubstr("model.safetensors.index.json"),
                    HasSubstr("model-00003-of-00003.safetensors"), HasSubstr("'z'")));
}

TEST_F(ShardedTest, IndexPlacingATensorInTheWrongShard) {
  WriteShards();
  WriteIndex(R"({"weight_map":{"c":"model-00001-of-00002.safetensors"}})");
  auto checkpoint = Checkpoint::Open(dir_);
  ASSERT_FALSE(checkpoint.ok());
  EXPECT_THAT(Message(checkpoint.status()),
              AllOf(HasSubstr("tensor 'c'"), HasSubstr(Path("model-00001-of-00002.safetensors"))));
}

TEST_F(ShardedTest, MalformedIndexes) {
  WriteShards();
  const std::pair<std::string, std::string> cases[] = {
      {"{not json", "invalid JSON"},
      {"[]", "not a JSON object"},
      {R"({"metadata":{}})", "weight_map"},
      {R"({"weight_map":{"a":1}})", "is not a string"},
      {R"({"weight_map":{"a":"../model-00001-of-00002.safetensors"}})", "not a relative path"},
      {R"({"weight_map":{"a":"/etc/passwd"}})", "not a relative path"},
  };
  for (const auto& [text, needle] : cases) {
    WriteIndex(text);
    auto checkpoint = Checkpoint::Open(dir_);
    ASSERT_FALSE(checkpoint.ok()) << text;
    EXPECT_THAT(Message(checkpoint.status()),
                AllOf(HasSubstr("model.safetensors.index.json"), HasSubstr(needle)))
        << text;
  }
}

TEST_F(ShardedTest, SingleFileWinsOverIndex) {
  WriteShards();
  WriteIndex("{not json");
  ASSERT_TRUE(WriteSafetensors(Path("model.safetensors"), {{"x", DType::kF32, {1}}}, {},
                               [](size_t, std::span<std::byte>) {})
                  .ok());
  auto checkpoint = Checkpoint::Open(dir_);
  ASSERT_TRUE(checkpoint.ok());
  EXPECT_THAT((*checkpoint)->TensorNames(), ::testing::ElementsAre("x"));
}

}  // namespace
}  // namespace strata::worker
