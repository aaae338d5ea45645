#include "core/text.hpp"

#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace vp::text {
namespace {

TEST(Text, PrintableExcerptKeepsPrintableAsciiAndEscapesEverythingElse) {
  EXPECT_EQ(printable_excerpt("HTTP 500: internal error"), "HTTP 500: internal error");
  EXPECT_EQ(printable_excerpt("a\nb\r\x1b[31m\\x0a\x7f"), "a\\x0ab\\x0d\\x1b[31m\\x5cx0a\\x7f");
  // U+202E (right-to-left override) and other non-ASCII bytes cannot reach a terminal.
  EXPECT_EQ(printable_excerpt("evil\u202egpj.exe"), "evil\\xe2\\x80\\xaegpj.exe");
  EXPECT_EQ(printable_excerpt(std::string("nul\0byte", 8)), "nul\\x00byte");
  EXPECT_EQ(printable_excerpt(""), "");
}

TEST(Text, PrintableExcerptIsBoundedAndSaysWhenItCut) {
  const std::string body(10'000, 'x');
  const auto e = printable_excerpt(body);
  EXPECT_EQ(e, std::string(200, 'x') + "…");
  EXPECT_EQ(printable_excerpt(std::string(200, 'y')), std::string(200, 'y'));  // exactly fits: not cut
  EXPECT_EQ(printable_excerpt("abcdef", 3), "abc…");
  // An escape is never split: it does not fit in the last two places, so it is left out.
  EXPECT_EQ(printable_excerpt("abc\n", 5), "abc…");
  EXPECT_EQ(printable_excerpt("ab\n", 6), "ab\\x0a");
  // Hostile bytes cannot make the excerpt longer than its bound (escapes count).
  EXPECT_EQ(printable_excerpt(std::string(1000, '\n'), 200).size(), 200 + std::string("…").size());
}

TEST(Text, QuotedExcerptCannotEndEarly) {
  EXPECT_EQ(quoted_excerpt("TDX"), "\"TDX\"");
  EXPECT_EQ(quoted_excerpt("a\"b\\c"), "\"a\\x22b\\x5cc\"");
  EXPECT_EQ(quoted_excerpt("abcdef", 4), "\"abcd\"…");
  EXPECT_EQ(quoted_excerpt(""), "\"\"");
}

}  // namespace
}  // namespace vp::text

namespace vp::text {
namespace {

TEST(AsciiIequals, OnlyAsciiLettersFoldCase) {
  EXPECT_TRUE(ascii_iequals("INTEL-SA-00837", "intel-sa-00837"));
  EXPECT_TRUE(ascii_iequals("96.00.CF.00.02", "96.00.cf.00.02"));
  EXPECT_FALSE(ascii_iequals("96.00.CF.00.02", "96.00.CF.00.0"));
  EXPECT_FALSE(ascii_iequals("a-b", "a_b"));
  EXPECT_FALSE(ascii_iequals("\xc3\x89", "\xc3\xa9")) << "no folding beyond ASCII";
}

}  // namespace
}  // namespace vp::text

namespace vp::text {
namespace {

TEST(SizeText, TheLargestExactBinaryUnitLikeTheFlagsSpellIt) {
  EXPECT_EQ(size_text(33554432), "32MiB");
  EXPECT_EQ(size_text(256u << 20), "256MiB");
  EXPECT_EQ(size_text(1536u * 1024), "1536KiB");
  EXPECT_EQ(size_text(1024), "1KiB");
  EXPECT_EQ(size_text(std::uint64_t{1} << 30), "1GiB");
  EXPECT_EQ(size_text(std::uint64_t{3} << 40), "3TiB");
  EXPECT_EQ(size_text(std::uint64_t{1} << 50), "1024TiB");
  EXPECT_EQ(size_text(1000), "1000 bytes");
  EXPECT_EQ(size_text(0), "0 bytes");
}

TEST(ValidUtf8, EveryByteOutsideAValidSequenceBecomesAReplacementCharacter) {
  EXPECT_EQ(valid_utf8("plain \u00e9 \u2192 \U0001F600"), "plain \u00e9 \u2192 \U0001F600");
  EXPECT_EQ(valid_utf8("a\xff" "b"), "a\uFFFD" "b");
  EXPECT_EQ(valid_utf8("cut \xe2\x80"), "cut \uFFFD\uFFFD");
  EXPECT_EQ(valid_utf8("\xc0\xaf"), "\uFFFD\uFFFD");  // an overlong '/'
  EXPECT_EQ(valid_utf8("\xed\xa0\x80"), "\uFFFD\uFFFD\uFFFD");  // a surrogate
}

TEST(ExceptionText, BoostSystemErrorsLoseTheirSourceLocation) {
  const boost::system::system_error e(boost::asio::error::address_in_use, "cannot listen on 127.0.0.1:8080");
  ASSERT_NE(std::string(e.what()).find("[system:"), std::string::npos) << "what Boost appends: " << e.what();
  const std::string text = exception_text(e);
  const boost::system::error_code code = boost::asio::error::address_in_use;
  EXPECT_EQ(text, "cannot listen on 127.0.0.1:8080: " + code.message());
  EXPECT_EQ(text.find('['), std::string::npos) << text;
  EXPECT_EQ(exception_text(std::runtime_error("plain [kept]")), "plain [kept]");
}

}  // namespace
}  // namespace vp::text
