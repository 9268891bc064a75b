// Python-compatible text helpers of the chat-template interpreter.
#include "server/chat_template/text.h"

#include <cmath>
#include <limits>
#include <string>

#include "gtest/gtest.h"

namespace strata::server::jinja {
namespace {

TEST(ChatTemplateTextTest, FloatReprMatchesPython) {
  EXPECT_EQ(PyFloatRepr(1.0), "1.0");
  EXPECT_EQ(PyFloatRepr(-0.0), "-0.0");
  EXPECT_EQ(PyFloatRepr(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(PyFloatRepr(123.456), "123.456");
  EXPECT_EQ(PyFloatRepr(1e15), "1000000000000000.0");
  EXPECT_EQ(PyFloatRepr(1e16), "1e+16");
  EXPECT_EQ(PyFloatRepr(1.5e16), "1.5e+16");
  EXPECT_EQ(PyFloatRepr(0.0001), "0.0001");
  EXPECT_EQ(PyFloatRepr(0.00001), "1e-05");
  EXPECT_EQ(PyFloatRepr(1.5e-7), "1.5e-07");
  EXPECT_EQ(PyFloatRepr(1e300), "1e+300");
  EXPECT_EQ(PyFloatRepr(std::numeric_limits<double>::infinity()), "inf");
  EXPECT_EQ(PyFloatRepr(std::nan("")), "nan");
}

TEST(ChatTemplateTextTest, StrReprMatchesPython) {
  EXPECT_EQ(PyStrRepr("abc"), "'abc'");
  EXPECT_EQ(PyStrRepr("it's"), "\"it's\"");
  EXPECT_EQ(PyStrRepr("a'b\"c"), "'a\\'b\"c'");
  EXPECT_EQ(PyStrRepr("tab\tnl\nbs\\"), "'tab\\tnl\\nbs\\\\'");
  EXPECT_EQ(PyStrRepr("\x01\x7f"), "'\\x01\\x7f'");
  EXPECT_EQ(PyStrRepr("é😀"), "'é😀'");
  EXPECT_EQ(PyStrRepr("\xc2\xa0\xe2\x80\xa8"), "'\\xa0\\u2028'");
}

TEST(ChatTemplateTextTest, JsonStringMatchesPythonJsonDumps) {
  std::string out;
  AppendJsonString("q\"b\\\n\r\t\b\f\x01\x1f\x7f é😀", false, &out);
  EXPECT_EQ(out, "\"q\\\"b\\\\\\n\\r\\t\\b\\f\\u0001\\u001f\x7f é😀\"");
  out.clear();
  AppendJsonString("é😀\x7f", true, &out);
  EXPECT_EQ(out, "\"\\u00e9\\ud83d\\ude00\\u007f\"");
}

TEST(ChatTemplateTextTest, StripUsesPythonWhitespace) {
  EXPECT_EQ(PyStrip(" \t\n\x1f x \xe3\x80\x80", nullptr, true, true), "x");
  EXPECT_EQ(PyStrip("\n\nx\n", nullptr, true, false), "x\n");
  EXPECT_EQ(PyStrip("\n\nx\n", nullptr, false, true), "\n\nx");
  const std::string chars = "xé";
  EXPECT_EQ(PyStrip("éxaxé", &chars, true, true), "a");
}

TEST(ChatTemplateTextTest, Utf8RoundTrip) {
  const std::string s = "a\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80";
  EXPECT_EQ(CodePointCount(s), 4u);
  EXPECT_EQ(DecodeUtf8(s).size(), 4u);
  EXPECT_EQ(EncodeUtf8(DecodeUtf8(s)), s);
  EXPECT_FALSE(IsAscii(s));
  EXPECT_TRUE(IsAscii("abc"));
}

}  // namespace
}  // namespace strata::server::jinja
