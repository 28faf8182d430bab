// Tests of the RASP lexer: tokens, positions, vocab lines and errors.
#include "lib/rasp/lexer.hpp"

#include <doctest/doctest.h>

#include "lib/error.hpp"

namespace circuits::rasp {

TEST_CASE("rasp lexer: tokens carry line and column; comments and blank lines vanish") {
    const auto t = tokenize("# comment\nx = map(y -> y // 2, tokens)  # tail\n\n", "p.rasp");
    REQUIRE(t.size() == 14);
    CHECK(t[0].kind == TokenKind::name);
    CHECK(t[0].text == "x");
    CHECK(t[0].line == 2);
    CHECK(t[0].col == 1);
    CHECK(t[4].text == "y");
    CHECK(t[5].text == "->");
    CHECK(t[7].text == "//");
    CHECK(t[8].kind == TokenKind::number);
    CHECK(t[8].value == Value::integer(2));
    CHECK(t[8].col == 19);
    CHECK(t[12].kind == TokenKind::newline);
    CHECK(t[13].kind == TokenKind::end);
}

TEST_CASE("rasp lexer: no newline inside parentheses; strings with either quote") {
    const auto t = tokenize("a = f(1,\n  'x', \"y z\")\n", "p.rasp");
    int newlines = 0;
    for (const auto& tok : t) newlines += tok.kind == TokenKind::newline;
    CHECK(newlines == 1);
    CHECK(t[6].kind == TokenKind::string);
    CHECK(t[6].value.as_string() == "x");
    CHECK(t[6].line == 2);
    CHECK(t[8].value.as_string() == "y z");
}

TEST_CASE("rasp lexer: a vocab line is read as words, numbers typed, quotes kept for spaces") {
    const auto t = tokenize("vocab ( ) { } 1 2.5 \"a b\" # c\nmax_len 3\n", "p.rasp");
    REQUIRE(t.size() >= 9);
    CHECK(t[1].kind == TokenKind::word);
    CHECK(t[1].value.as_string() == "(");
    CHECK(t[4].value.as_string() == "}");
    CHECK(t[5].value == Value::integer(1));
    CHECK(t[6].value == Value::number(2.5));
    CHECK(t[7].value.as_string() == "a b");
    CHECK(t[8].kind == TokenKind::newline);
}

TEST_CASE("rasp lexer: errors name file, line and column") {
    CHECK_THROWS_WITH_AS(tokenize("x = 1\ny = $\n", "p.rasp"), "p.rasp:2:5: unexpected character '$'", Error);
    CHECK_THROWS_WITH_AS(tokenize("x = \"abc\n", "p.rasp"), "p.rasp:1:5: unterminated string (expected the closing \")",
                         Error);
    CHECK_THROWS_WITH_AS(tokenize("x = 3a\n", "p.rasp"), "p.rasp:1:6: unexpected 'a' after the number 3", Error);
}

}  // namespace circuits::rasp
