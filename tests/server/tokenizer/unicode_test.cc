#include "server/tokenizer/unicode.h"

#include <string>

#include "gtest/gtest.h"
#include "tests/server/tokenizer/test_util.h"

namespace strata::server::unicode {
namespace {

TEST(UnicodeTest, TablesAreUnicode14) { EXPECT_STREQ(unicode_tables::kUnicodeVersion, "14.0.0"); }

TEST(UnicodeTest, Properties) {
  EXPECT_TRUE(IsLetter('a'));
  EXPECT_TRUE(IsLetter(0x4E2D));   // 中
  EXPECT_TRUE(IsLetter(0x01C5));   // ǅ (Lt)
  EXPECT_TRUE(IsLetter(0x02B0));   // ʰ (Lm)
  EXPECT_FALSE(IsLetter(0x0301));  // combining acute (Mn)
  EXPECT_FALSE(IsLetter('5'));
  EXPECT_TRUE(IsNumber('5'));
  EXPECT_TRUE(IsNumber(0x0663));  // Arabic-Indic three (Nd)
  EXPECT_TRUE(IsNumber(0x2163));  // Ⅳ (Nl)
  EXPECT_TRUE(IsNumber(0x00BD));  // ½ (No)
  EXPECT_FALSE(IsNumber('x'));
  for (uint32_t ws : {0x09u, 0x0Au, 0x0Bu, 0x0Cu, 0x0Du, 0x20u, 0x85u, 0xA0u, 0x1680u, 0x2000u,
                      0x200Au, 0x2028u, 0x2029u, 0x202Fu, 0x205Fu, 0x3000u}) {
    EXPECT_TRUE(IsWhiteSpace(ws)) << std::hex << ws;
  }
  for (uint32_t not_ws : {0x200Bu, 0xFEFFu, 0x180Eu, 0x1Cu, 0x61u}) {
    EXPECT_FALSE(IsWhiteSpace(not_ws)) << std::hex << not_ws;
  }
  EXPECT_TRUE(IsWordChar('_'));
  EXPECT_TRUE(IsWordChar(0x0330));  // marks are \w
  EXPECT_TRUE(IsWordChar(0x24B6));  // Ⓐ: Other_Alphabetic
  EXPECT_TRUE(IsWordChar(0x200D));  // Join_Control
  EXPECT_FALSE(IsWordChar('-'));
  EXPECT_FALSE(IsWordChar(0x00BD));  // No is not \w
  EXPECT_EQ(Properties(kInvalidByteBase + 0xFF), 0);
  EXPECT_EQ(CombiningClass(0x0301), 230);
  EXPECT_EQ(CombiningClass(0x0323), 220);
  EXPECT_EQ(CombiningClass('a'), 0);
}

TEST(UnicodeTest, DecodeAndEncodeUtf8) {
  const std::string text = "a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80";
  std::vector<uint32_t> cps;
  std::string again;
  for (size_t pos = 0; pos < text.size();) {
    const DecodedChar c = DecodeUtf8(text, pos);
    cps.push_back(c.code_point);
    AppendUtf8(c.code_point, &again);
    pos += c.length;
  }
  EXPECT_EQ(cps, (std::vector<uint32_t>{'a', 0xE9, 0x4E2D, 0x1F600}));
  EXPECT_EQ(again, text);

  // Ill-formed input decodes byte by byte to invalid-byte values that re-encode as themselves.
  for (std::string bad : {"\xC0\xAF", "\xE2\x82", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xFF"}) {
    std::string round_trip;
    for (size_t pos = 0; pos < bad.size();) {
      const DecodedChar c = DecodeUtf8(bad, pos);
      EXPECT_EQ(c.length, 1);
      EXPECT_GE(c.code_point, kInvalidByteBase);
      AppendUtf8(c.code_point, &round_trip);
      pos += c.length;
    }
    EXPECT_EQ(round_trip, bad);
  }
}

TEST(UnicodeTest, LossyReplacesMaximalSubparts) {
  // Expected values from Python's bytes.decode("utf-8", "replace").
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(Utf8Lossy("\xE2\x82"), fffd);
  EXPECT_EQ(Utf8Lossy("\xE2\x82"
                      "A"),
            fffd + "A");
  EXPECT_EQ(Utf8Lossy("\xF0\x80\x80"), fffd + fffd + fffd);
  EXPECT_EQ(Utf8Lossy("\xC0\xAF"), fffd + fffd);
  EXPECT_EQ(Utf8Lossy("\xED\xA0\x80"), fffd + fffd + fffd);
  EXPECT_EQ(Utf8Lossy("\xF4\x90\x80\x80"), fffd + fffd + fffd + fffd);
  EXPECT_EQ(Utf8Lossy("\xF0\x9F\x98"), fffd);
  EXPECT_EQ(Utf8Lossy("a\xFF"
                      "b"),
            "a" + fffd + "b");
  EXPECT_EQ(Utf8Lossy("\xE0\x80\xAF"), fffd + fffd + fffd);
  EXPECT_EQ(Utf8Lossy("\xF1\x80\x80\xE1\x80\xC2"), fffd + fffd + fffd);
  EXPECT_EQ(Utf8Lossy("ok \xC3\xA9 \xF0\x9F\x98\x80"), "ok \xC3\xA9 \xF0\x9F\x98\x80");
}

TEST(UnicodeTest, IncompleteSuffix) {
  EXPECT_EQ(IncompleteUtf8Suffix(""), 0u);
  EXPECT_EQ(IncompleteUtf8Suffix("a"), 0u);
  EXPECT_EQ(IncompleteUtf8Suffix("\xE2"), 1u);
  EXPECT_EQ(IncompleteUtf8Suffix("\xE2\x82"), 2u);
  EXPECT_EQ(IncompleteUtf8Suffix("\xE2\x82\xAC"), 0u);
  EXPECT_EQ(IncompleteUtf8Suffix("a\xF0\x9F"), 2u);
  EXPECT_EQ(IncompleteUtf8Suffix("\xF0\x9F\x98"), 3u);
  EXPECT_EQ(IncompleteUtf8Suffix("\xF0\x80"), 0u);  // F0 80 can never complete
  EXPECT_EQ(IncompleteUtf8Suffix("\xED\xA0"), 0u);  // a surrogate
  EXPECT_EQ(IncompleteUtf8Suffix("\xC0"), 0u);
  EXPECT_EQ(IncompleteUtf8Suffix("\x80"), 0u);
  EXPECT_EQ(IncompleteUtf8Suffix("\x80\x80\x80"), 0u);
}

// nfc_cases.jsonl holds [input, NFC(input)] pairs computed by Python's unicodedata.
TEST(UnicodeTest, NfcMatchesPython) {
  const std::vector<std::string> lines = test::ReadLines(test::FixtureDir() + "/nfc_cases.jsonl");
  ASSERT_GT(lines.size(), 5000u);
  int failures = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    const test::Json pair = test::Json::parse(lines[i]);
    const std::string input = pair[0].get<std::string>();
    const std::string expected = pair[1].get<std::string>();
    const std::string actual = NfcNormalize(input);
    if (actual != expected && ++failures <= 10) {
      ADD_FAILURE() << "nfc_cases.jsonl line " << i + 1 << ": " << lines[i];
    }
    if (IsNfcQuickYes(input)) {
      EXPECT_EQ(input, expected) << "line " << i + 1;
    }
  }
  EXPECT_EQ(failures, 0);
}

TEST(UnicodeTest, NfcExamples) {
  EXPECT_EQ(NfcNormalize("e\xCC\x81"), "\xC3\xA9");                      // e + acute -> é
  EXPECT_EQ(NfcNormalize("\xE2\x84\xAB"), "\xC3\x85");                   // Angstrom sign -> Å
  EXPECT_EQ(NfcNormalize("\xE1\x84\x80\xE1\x85\xA1"), "\xEA\xB0\x80");   // jamo -> 가
  EXPECT_EQ(NfcNormalize("a\xCC\x87\xCC\xA3"), "\xE1\xBA\xA1\xCC\x87");  // reordered, composed
  EXPECT_EQ(NfcNormalize("plain ascii"), "plain ascii");
  // Invalid bytes pass through and block composition.
  EXPECT_EQ(NfcNormalize("\xFF"
                         "e\xCC\x81"),
            "\xFF\xC3\xA9");
  EXPECT_EQ(NfcNormalize("e\xFF\xCC\x81"), "e\xFF\xCC\x81");
  EXPECT_TRUE(IsNfcQuickYes("caf\xC3\xA9 \xE4\xB8\xAD"));
  EXPECT_FALSE(IsNfcQuickYes("cafe\xCC\x81"));
}

TEST(UnicodeTest, NfcSortsLongMarkRunsStably) {
  // 40,000 marks alternating U+0301 (class 230) and U+0323 (class 220): NFC puts all the
  // dots below first, composing the first with the base letter, in well under a second.
  std::string input = "a";
  for (int i = 0; i < 20000; ++i) input += "\xCC\x81\xCC\xA3";
  std::string expected = "\xE1\xBA\xA1";  // U+1EA1 = a + dot below
  for (int i = 1; i < 20000; ++i) expected += "\xCC\xA3";
  for (int i = 0; i < 20000; ++i) expected += "\xCC\x81";
  EXPECT_EQ(NfcNormalize(input), expected);
}

}  // namespace
}  // namespace strata::server::unicode
