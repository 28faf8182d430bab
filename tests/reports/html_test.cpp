// HTML helpers: escaping to well-formed XML, token display, number format, Markdown escaping.
#include "reports/html.hpp"

#include "tests/reports/xml_check.hpp"

#include <doctest/doctest.h>

#include <cmath>

using namespace circuits::reports;

TEST_CASE("html: escape_html escapes markup characters and keeps UTF-8") {
    CHECK(escape_html("<a href=\"x\">&'</a>") == "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
    CHECK(escape_html("héllo ✓ 日本") == "héllo ✓ 日本");
    CHECK(escape_html("tab\tnew\nline") == "tab\tnew\nline");
}

TEST_CASE("html: escape_html replaces invalid UTF-8 and characters XML forbids") {
    const std::string replacement = "\xEF\xBF\xBD";
    CHECK(escape_html(std::string("a\x01z")) == "a" + replacement + "z");
    CHECK(escape_html(std::string("\xff")) == replacement);
    CHECK(escape_html(std::string("\xC3")) == replacement);          // truncated sequence
    CHECK(escape_html(std::string("\xC0\xAF")) == replacement + replacement);  // overlong '/'
    CHECK(escape_html(std::string("\xED\xA0\x80")) == replacement + replacement + replacement);  // surrogate
    CHECK(escape_html(std::string(1, '\0')) == replacement);
    // Whatever the input, the result parses as XML text.
    std::string all;
    for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
    const auto doc = circuits::test::parse_xml("<p>" + escape_html(all) + "</p>");
    CHECK_MESSAGE(doc.ok, doc.error);
}

TEST_CASE("html: display_token makes control characters and stray bytes visible") {
    CHECK(display_token("a\nb") == "a\\nb");
    CHECK(display_token("\t\r") == "\\t\\r");
    CHECK(display_token(std::string("\x01")) == "\\x01");
    CHECK(display_token(std::string("\xe2\x82")) == "\\xE2\\x82");  // half a UTF-8 sequence
    CHECK(display_token("") == "(empty)");
    CHECK(display_token(" the") == " the");
    CHECK(display_token("<&>") == "<&>");  // escaping is escape_html's job
}

TEST_CASE("html: truncate_utf8 cuts at code points") {
    CHECK(truncate_utf8("héllo", 3) == "hél…");
    CHECK(truncate_utf8("héllo", 5) == "héllo");
    CHECK(truncate_utf8("✓✓✓", 1) == "✓…");
}

TEST_CASE("html: format_number gives 4 significant digits, NaN and infinities") {
    CHECK(format_number(0.9375) == "0.9375");
    CHECK(format_number(0.123456) == "0.1235");
    CHECK(format_number(12345.0) == "1.234e+04");
    CHECK(format_number(2.0) == "2");
    CHECK(format_number(std::nan("")) == "NaN");
    CHECK(format_number(-INFINITY) == "-inf");
}

TEST_CASE("html: escape_markdown escapes table and emphasis characters") {
    CHECK(escape_markdown("a|b*c_d`e") == "a\\|b\\*c\\_d\\`e");
    CHECK(escape_markdown("x\ny") == "x y");
}

TEST_CASE("html: html_page and html_table are well-formed") {
    const auto table = html_table({"a<", "b"}, {{{"1", "num"}, {"<i>x</i>", ""}}}, "t");
    const auto doc = circuits::test::parse_xml(html_page("title & <more>", table + note("n<ote")));
    REQUIRE_MESSAGE(doc.ok, doc.error);
    CHECK(doc.root->find_all("title").front()->text_content() == "title & <more>");
    CHECK(doc.root->find_id("t")->find_all("th").front()->text_content() == "a<");
    CHECK(doc.root->find_all("script").empty());
}
