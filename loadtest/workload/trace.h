// Recorded requests from a trace file, before prompts are built: when each arrived, its
// prompt (text, or only a length) and its output length. The importers read
//   - Strata's JSONL: one object a line,
//       {"arrival_s": 0.25, "prompt": "..." | "prompt_len": 512, "output_len": 128,
//        "session_id": "s1"}
//     (arrival_s: seconds, any origin; prompt or prompt_len required; session_id optional);
//   - the Azure LLM inference trace CSV (TIMESTAMP,ContextTokens,GeneratedTokens; 2023 and
//     2024 releases), TIMESTAMP as "YYYY-MM-DD HH:MM:SS[.fraction]";
//   - the BurstGPT CSV (Timestamp,Model,Request tokens,Response tokens,Total tokens,
//     Log Type), Timestamp in seconds; rows with 0 response tokens (failed requests in the
//     original service) are skipped.
// Arrival times come back sorted, relative to the first (which is 0).
#pragma once

#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace strata::loadtest {

struct TraceRecord {
  double arrival_s = 0;
  std::optional<std::string> prompt;  // the text, when the trace has it
  int32_t prompt_len = 0;             // tokens; 0 when only the text is known
  int32_t output_len = 0;
  std::string session_id;
};

enum class TraceFormat { kJsonl, kAzure, kBurstGpt };

struct TraceImportOptions {
  int64_t max_records = -1;  // stop after this many accepted records; -1: all
  std::string model_filter;  // BurstGPT: keep only rows of this Model; empty: all
};

struct TraceImport {
  std::vector<TraceRecord> records;
  int64_t skipped = 0;  // rows dropped (e.g. BurstGPT failures, zero lengths)
};

// "jsonl", "azure" or "burstgpt".
absl::StatusOr<TraceFormat> ParseTraceFormat(absl::string_view name);
// Guesses from the file name (".jsonl") or the CSV header.
absl::StatusOr<TraceFormat> DetectTraceFormat(const std::string& path);

absl::StatusOr<TraceImport> ImportTrace(std::istream& in, TraceFormat format,
                                        const TraceImportOptions& options, absl::string_view name);
absl::StatusOr<TraceImport> ImportTraceFile(const std::string& path, TraceFormat format,
                                            const TraceImportOptions& options);

// Seconds since 1970-01-01 of "YYYY-MM-DD HH:MM:SS[.fraction]" (also with 'T'), as UTC.
std::optional<double> ParseDateTimeSeconds(absl::string_view text);

}  // namespace strata::loadtest
