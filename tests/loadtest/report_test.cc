// The result JSON, the text summary, compare and the HTML page's data.
#include <gtest/gtest.h>

#include "loadtest/report/compare.h"
#include "loadtest/report/html_report.h"
#include "loadtest/report/result_json.h"
#include "loadtest/report/text_summary.h"

namespace strata::loadtest {
namespace {

using json = nlohmann::json;

RunOutput SampleOutput() {
  RunOutput out;
  for (int i = 0; i < 4; ++i) {
    RequestRecord r;
    r.index = i;
    r.start_s = i * 0.5;
    r.ttft_s = 0.1 + 0.01 * i;
    r.itl_s = {0.02, 0.02, 0.02};
    r.end_s = r.start_s + *r.ttft_s + 0.06;
    r.prompt_len = 100 * (i + 1);
    r.prompt_tokens = r.prompt_len;
    r.output_len = 4;
    r.completion_tokens = 4;
    r.session_id = "</script><script>alert(1)</script>";
    out.records.push_back(r);
  }
  out.records[3].error_kind = "http_500";
  out.records[3].error_message = "boom";
  RequestRecord warm;
  warm.ttft_s = 0.1;
  warm.prompt_tokens = 7;
  warm.completion_tokens = 3;
  out.warmup_records.push_back(warm);
  out.concurrency = {{0, 0}, {0, 1}, {0.2, 0}};
  return out;
}

json SampleResult(const std::string& label) {
  const RunOutput out = SampleOutput();
  const RunSummary s =
      SummarizeRun(out.records, out.not_sent, out.concurrency, *ParseSlo("ttft=115ms"));
  return ResultJson({{"label", label}, {"target", "http://127.0.0.1:1"}, {"model", "m"}}, out, s);
}

TEST(ReportTest, ResultJsonHasTheAgreedFields) {
  const json r = SampleResult("a");
  EXPECT_EQ(r["completed"], 3);
  EXPECT_EQ(r["failed"], 1);
  EXPECT_EQ(r["errors"]["http_500"], 1);
  for (const char* key : {"ttft_ms", "tpot_ms", "itl_ms", "e2e_ms"}) {
    for (const char* stat : {"mean", "p50", "p90", "p99", "p99.9"}) {
      EXPECT_TRUE(r[key][stat].is_number()) << key << "." << stat;
    }
  }
  EXPECT_DOUBLE_EQ(r["ttft_ms"]["p50"].get<double>(), 110);
  EXPECT_DOUBLE_EQ(r["tpot_ms"]["mean"].get<double>(), 20);
  EXPECT_EQ(r["itl_ms"]["count"], 9);
  EXPECT_TRUE(r["output_throughput_tok_s"].is_number());
  EXPECT_EQ(r["total_output_tokens"], 12);
  EXPECT_EQ(r["good_requests"], 2);  // 100 and 110 ms; 120 ms misses; one failed
  EXPECT_EQ(r["warmup"]["completed"], 1);
  EXPECT_EQ(r["warmup"]["input_tokens"], 7);
  EXPECT_EQ(r["warmup"]["output_tokens"], 3);
  ASSERT_EQ(r["requests"].size(), 4u);
  EXPECT_EQ(r["requests"][3]["error"], "http_500");
  EXPECT_EQ(r["requests"][0]["itl_ms"], json::array({20.0, 20.0, 20.0}));
  const std::string text = TextSummary(r);
  EXPECT_NE(text.find("Completed requests:          3"), std::string::npos) << text;
  EXPECT_NE(text.find("http_500:"), std::string::npos) << text;
}

TEST(ReportTest, CompareShowsRunsSideBySide) {
  json a = SampleResult("a"), b = SampleResult("b");
  b["output_throughput_tok_s"] = a["output_throughput_tok_s"].get<double>() * 2;
  const std::string table = CompareTable({a, b}, {"base", "new"});
  EXPECT_NE(table.find("| figure | base | new |"), std::string::npos) << table;
  EXPECT_NE(table.find("(+100.0%)"), std::string::npos) << table;
  EXPECT_NE(table.find("| ttft p99 (ms) |"), std::string::npos) << table;
}

TEST(ReportTest, HtmlEmbedsItsDataSafely) {
  const std::string page = HtmlReport({SampleResult("a")}, {"run <a>"});
  EXPECT_EQ(page.find("@@DATA@@"), std::string::npos);
  // The only </script> tags are the page's own two.
  size_t count = 0;
  for (size_t at = page.find("</script>"); at != std::string::npos;
       at = page.find("</script>", at + 1)) {
    ++count;
  }
  EXPECT_EQ(count, 2u);
  // Nothing is loaded from elsewhere.
  EXPECT_EQ(page.find("<link"), std::string::npos);
  EXPECT_EQ(page.find(" src="), std::string::npos);
  EXPECT_EQ(page.find("url(http"), std::string::npos);
  EXPECT_EQ(page.find("fetch("), std::string::npos);
  const json data = HtmlReportData({SampleResult("a")}, {"a"});
  ASSERT_EQ(data["runs"].size(), 1u);
  EXPECT_EQ(data["runs"][0]["cdf"]["ttft"].size(), 3u);
  EXPECT_EQ(data["runs"][0]["cdf"]["itl"].size(), 9u);
  EXPECT_EQ(data["runs"][0]["ttft_vs_prompt"][2], json::array({300, 120}));
}

}  // namespace
}  // namespace strata::loadtest
