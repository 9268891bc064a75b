#include "server/generation/stop_matcher.h"

#include <gtest/gtest.h>

namespace strata::server {
namespace {

// Feeds `chunks` and returns the emitted text plus the match.
std::pair<std::string, std::optional<std::string>> Feed(std::vector<std::string> stops,
                                                        std::vector<std::string> chunks) {
  StopMatcher m(std::move(stops));
  std::string out;
  for (const auto& c : chunks) {
    auto r = m.Push(c);
    out += r.text;
    if (r.match) return {out, r.match};
  }
  return {out + m.Flush(), std::nullopt};
}

TEST(StopMatcherTest, MatchAcrossChunksIsRemovedWithEverythingAfterIt) {
  auto [text, match] = Feed({"END"}, {"hello E", "N", "D and more"});
  EXPECT_EQ(text, "hello ");
  EXPECT_EQ(match, "END");
}

TEST(StopMatcherTest, HeldBackTextIsReleasedWhenItCannotMatch) {
  StopMatcher m({"END"});
  EXPECT_EQ(m.Push("abc E").text, "abc ");
  EXPECT_EQ(m.Push("N").text, "");
  EXPECT_EQ(m.Push("x").text, "ENx");
  EXPECT_EQ(m.Flush(), "");
}

TEST(StopMatcherTest, EarliestOfSeveralStopsWins) {
  auto [text, match] = Feed({"world", "lo w"}, {"hello world"});
  EXPECT_EQ(text, "hel");
  EXPECT_EQ(match, "lo w");
}

TEST(StopMatcherTest, NoStopsPassesEverythingThrough) {
  auto [text, match] = Feed({}, {"a", "b"});
  EXPECT_EQ(text, "ab");
  EXPECT_FALSE(match.has_value());
}

TEST(StopMatcherTest, FlushReleasesAPartialMatchAtTheEnd) {
  auto [text, match] = Feed({"</s>"}, {"done </"});
  EXPECT_EQ(text, "done </");
  EXPECT_FALSE(match.has_value());
}

TEST(StopMatcherTest, MultibyteStopStrings) {
  auto [text, match] = Feed({"。"}, {"你好", "\xe3\x80", "\x82再见"});
  EXPECT_EQ(text, "你好");
  EXPECT_EQ(match, "。");
}

}  // namespace
}  // namespace strata::server
