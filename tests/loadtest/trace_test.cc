// Trace importers on sample files in each format (tests/loadtest/data), and their errors.
#include "loadtest/workload/trace.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>

namespace strata::loadtest {
namespace {

std::string DataPath(const std::string& name) {
  const char* src = std::getenv("STRATA_SOURCE_DIR");
  return std::string(src ? src : ".") + "/tests/loadtest/data/" + name;
}

TEST(TraceTest, JsonlHasPromptsLengthsAndSessions) {
  absl::StatusOr<TraceImport> t =
      ImportTraceFile(DataPath("trace_sample.jsonl"), TraceFormat::kJsonl, {});
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->records.size(), 4u);
  // Sorted by arrival, relative to the first.
  EXPECT_DOUBLE_EQ(t->records[0].arrival_s, 0);
  EXPECT_EQ(t->records[0].prompt_len, 120);
  EXPECT_EQ(t->records[0].output_len, 16);
  EXPECT_EQ(t->records[0].session_id, "a");
  EXPECT_DOUBLE_EQ(t->records[1].arrival_s, 0.25);
  ASSERT_TRUE(t->records[1].prompt.has_value());
  EXPECT_EQ(*t->records[1].prompt, "Summarize the following text.");
  EXPECT_EQ(t->records[1].session_id, "");
  EXPECT_DOUBLE_EQ(t->records[2].arrival_s, 0.5);
  EXPECT_EQ(t->records[2].session_id, "7");  // integers are accepted as ids
  EXPECT_DOUBLE_EQ(t->records[3].arrival_s, 1.5);
  EXPECT_EQ(t->records[3].prompt_len, 200);
}

TEST(TraceTest, AzureCsv) {
  absl::StatusOr<TraceImport> t =
      ImportTraceFile(DataPath("azure_sample.csv"), TraceFormat::kAzure, {});
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->records.size(), 4u);
  EXPECT_EQ(t->skipped, 1);  // GeneratedTokens 0
  EXPECT_DOUBLE_EQ(t->records[0].arrival_s, 0);
  EXPECT_EQ(t->records[0].prompt_len, 374);
  EXPECT_EQ(t->records[0].output_len, 44);
  EXPECT_NEAR(t->records[1].arrival_s, 4.314579, 1e-6);
  EXPECT_NEAR(t->records[2].arrival_s, 13.3506100, 1e-6);
  EXPECT_EQ(t->records[2].prompt_len, 3072);
  // Across midnight: 2023-11-17 00:00:01.5 - 2023-11-16 18:15:46.68059.
  EXPECT_NEAR(t->records[3].arrival_s, 5 * 3600 + 44 * 60 + 14.81941, 1e-6);
}

TEST(TraceTest, BurstGptCsv) {
  absl::StatusOr<TraceImport> t =
      ImportTraceFile(DataPath("burstgpt_sample.csv"), TraceFormat::kBurstGpt, {});
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->records.size(), 4u);
  EXPECT_EQ(t->skipped, 1);  // a failed request (0 response tokens)
  EXPECT_DOUBLE_EQ(t->records[0].arrival_s, 0);
  EXPECT_EQ(t->records[0].prompt_len, 472);
  EXPECT_EQ(t->records[0].output_len, 18);
  EXPECT_DOUBLE_EQ(t->records[3].arrival_s, 168.5);
  TraceImportOptions gpt4;
  gpt4.model_filter = "GPT-4";
  absl::StatusOr<TraceImport> only =
      ImportTraceFile(DataPath("burstgpt_sample.csv"), TraceFormat::kBurstGpt, gpt4);
  ASSERT_TRUE(only.ok()) << only.status();
  ASSERT_EQ(only->records.size(), 1u);
  EXPECT_EQ(only->records[0].prompt_len, 417);
}

TEST(TraceTest, FormatIsDetected) {
  EXPECT_EQ(*DetectTraceFormat(DataPath("trace_sample.jsonl")), TraceFormat::kJsonl);
  EXPECT_EQ(*DetectTraceFormat(DataPath("azure_sample.csv")), TraceFormat::kAzure);
  EXPECT_EQ(*DetectTraceFormat(DataPath("burstgpt_sample.csv")), TraceFormat::kBurstGpt);
}

TEST(TraceTest, MaxRecordsStopsEarly) {
  TraceImportOptions o;
  o.max_records = 2;
  absl::StatusOr<TraceImport> t =
      ImportTraceFile(DataPath("azure_sample.csv"), TraceFormat::kAzure, o);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->records.size(), 2u);
}

absl::Status ImportText(const std::string& text, TraceFormat format) {
  std::istringstream in(text);
  return ImportTrace(in, format, {}, "t").status();
}

TEST(TraceTest, ErrorsNameTheLine) {
  absl::Status s = ImportText("{\"arrival_s\": 0, \"output_len\": 3}\n", TraceFormat::kJsonl);
  EXPECT_EQ(s.message(), "t:1: 'prompt' or 'prompt_len' is required");
  s = ImportText("{\"arrival_s\": 0, \"prompt_len\": 3}\n{\"arrival_s\": 1}\n",
                 TraceFormat::kJsonl);
  EXPECT_EQ(s.message(), "t:1: 'output_len' (an integer >= 1) is required");
  s = ImportText("not json\n", TraceFormat::kJsonl);
  EXPECT_EQ(s.message(), "t:1: expected a JSON object");
  s = ImportText("TIMESTAMP,ContextTokens,GeneratedTokens\nyesterday,1,2\n", TraceFormat::kAzure);
  EXPECT_EQ(s.message(), "t:2: bad TIMESTAMP 'yesterday'");
  s = ImportText("a,b,c\n1,2,3\n", TraceFormat::kAzure);
  EXPECT_FALSE(s.ok());
  s = ImportText("Timestamp,Model,Request tokens,Response tokens\n1,x,-4,2\n",
                 TraceFormat::kBurstGpt);
  EXPECT_EQ(s.message(), "t:2: token counts must be non-negative integers");
  s = ImportText("", TraceFormat::kJsonl);
  EXPECT_EQ(s.message(), "t: no requests");
}

TEST(TraceTest, DateTimes) {
  EXPECT_DOUBLE_EQ(*ParseDateTimeSeconds("1970-01-01 00:00:00"), 0);
  EXPECT_DOUBLE_EQ(*ParseDateTimeSeconds("2000-03-01T00:00:00Z"), 951868800);
  EXPECT_NEAR(*ParseDateTimeSeconds("2024-05-10 00:00:00.0000123"), 1715299200.0000123, 1e-6);
  EXPECT_FALSE(ParseDateTimeSeconds("2024-13-10 00:00:00").has_value());
  EXPECT_FALSE(ParseDateTimeSeconds("2024-05-10 00:00").has_value());
  EXPECT_FALSE(ParseDateTimeSeconds("2024-05-10 00:00:00+02:00").has_value());
}

}  // namespace
}  // namespace strata::loadtest
