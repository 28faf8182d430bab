// Tests of the RASP parser: statements, precedence, lambdas, predicates, and syntax errors.
#include "lib/rasp/parser.hpp"

#include <doctest/doctest.h>

#include "lib/error.hpp"

namespace circuits::rasp {

namespace {

// A compact rendering of an expression: (op a b), name, literal, call(args), lambda.
std::string show(const Expr& e) {
    switch (e.kind) {
        case Expr::Kind::literal:
            return e.value.is_string() ? "\"" + e.value.as_string() + "\"" : e.value.to_string();
        case Expr::Kind::name:
            return e.text;
        case Expr::Kind::operator_ref:
            return "`" + e.text + "`";
        case Expr::Kind::unary:
            return "(" + e.text + " " + show(*e.args[0]) + ")";
        case Expr::Kind::binary:
            return "(" + e.text + " " + show(*e.args[0]) + " " + show(*e.args[1]) + ")";
        case Expr::Kind::conditional:
            return "(if " + show(*e.args[0]) + " " + show(*e.args[1]) + " " + show(*e.args[2]) + ")";
        case Expr::Kind::lambda: {
            std::string s = "(\\";
            for (const auto& p : e.params) s += p + " ";
            return s + "-> " + show(*e.args[0]) + ")";
        }
        case Expr::Kind::call: {
            std::string s = e.text + "(";
            for (size_t i = 0; i < e.args.size(); ++i)
                s += (i ? ", " : "") + (e.arg_names[i].empty() ? "" : e.arg_names[i] + ": ") + show(*e.args[i]);
            return s + ")";
        }
    }
    return "?";
}

std::string parse_expr(const std::string& text) {
    const Ast ast = parse("x = " + text + "\n", "t.rasp");
    REQUIRE(ast.statements.size() == 1);
    return show(*ast.statements[0].expr);
}

}  // namespace

TEST_CASE("rasp parser: directives, let, def, bindings and output") {
    const Ast ast = parse(
        "vocab a b c\nmax_len 5\ncausal\nlet N = 3\ndef shift(s, n) = aggregate(select(indices, indices, (k, q) -> q "
        "== k + n), s)\n"
        "y = shift(tokens, N)\noutput y\n",
        "t.rasp");
    REQUIRE(ast.statements.size() == 7);
    CHECK(ast.statements[0].kind == Statement::Kind::vocab);
    CHECK(ast.statements[0].vocab.size() == 3);
    CHECK(ast.statements[1].max_len == 5);
    CHECK(ast.statements[2].kind == Statement::Kind::causal);
    CHECK(ast.statements[3].name == "N");
    CHECK(ast.statements[4].params == std::vector<std::string>{"s", "n"});
    CHECK(show(*ast.statements[4].expr) == "aggregate(select(indices, indices, (\\k q -> (== q (+ k n)))), s)");
    CHECK(ast.statements[6].kind == Statement::Kind::output);
    CHECK(ast.statements[6].name == "y");
    CHECK(ast.statements[6].line == 7);
}

TEST_CASE("rasp parser: precedence of arithmetic, comparison, not, and, or") {
    CHECK(parse_expr("length - indices - 1") == "(- (- length indices) 1)");
    CHECK(parse_expr("1 + 2 * 3 // 4") == "(+ 1 (// (* 2 3) 4))");
    CHECK(parse_expr("-x + 1") == "(+ (- x) 1)");
    CHECK(parse_expr("a < 0 or b < 0 and not c") == "(or (< a 0) (and (< b 0) (not c)))");
    CHECK(parse_expr("(a or b) and c") == "(and (or a b) c)");
    CHECK(parse_expr("map(x -> if x > 1 then \"big\" else 'small', tokens)") ==
          "map((\\x -> (if (> x 1) \"big\" \"small\")), tokens)");
    CHECK(parse_expr("select(tokens, tokens, ==)") == "select(tokens, tokens, `==`)");
    CHECK(parse_expr("aggregate(s, v, default: 0)") == "aggregate(s, v, default: 0)");
    CHECK(parse_expr("sequence_map((a, b) -> min(a, b), x, y)") == "sequence_map((\\a b -> min(a, b)), x, y)");
}

TEST_CASE("rasp parser: syntax errors give line, column and what was expected") {
    CHECK_THROWS_WITH_AS(parse("vocab a\nx = select(tokens, tokens, ==\ny = 1\n", "r.rasp"),
                         "r.rasp:2:30: expected ',' or ')' after argument 3 of select(...), found 'y'", Error);
    CHECK_THROWS_WITH_AS(parse("x = (1 + 2\n", "r.rasp"),
                         "r.rasp:1:11: expected ')' to close the '(' at line 1:5, found the end of the file", Error);
    CHECK_THROWS_WITH_AS(parse("x = map(v -> v + , tokens)\n", "r.rasp"),
                         "r.rasp:1:18: expected an operand after '+', found ','", Error);
    CHECK_THROWS_WITH_AS(parse("x = 1 +\n", "r.rasp"),
                         "r.rasp:1:8: expected an operand after '+', found the end of the line", Error);
    CHECK_THROWS_WITH_AS(parse("max_len x\n", "r.rasp"), "r.rasp:1:9: expected an integer after 'max_len', found 'x'",
                         Error);
    CHECK_THROWS_WITH_AS(parse("x 1\n", "r.rasp"),
                         "r.rasp:1:3: expected '=' after 'x' at the start of a statement, found the number 1", Error);
    CHECK_THROWS_WITH_AS(parse("def f(a = a\n", "r.rasp"),
                         "r.rasp:1:9: expected ')' after the parameters of 'f', found '='", Error);
    CHECK_THROWS_WITH_AS(parse("x = a < b < c\n", "r.rasp"),
                         "r.rasp:1:11: chained comparisons are not supported; combine two comparisons with 'and'",
                         Error);
    CHECK_THROWS_WITH_AS(parse("x = ==\n", "r.rasp"),
                         "r.rasp:1:5: a bare '==' is only allowed as the predicate of select(...)", Error);
    CHECK_THROWS_WITH_AS(parse("output\n", "r.rasp"),
                         "r.rasp:1:7: expected the name of the output s-op after 'output', found the end of the line",
                         Error);
    CHECK_THROWS_WITH_AS(parse("let = 3\n", "r.rasp"), "r.rasp:1:5: expected a constant name after 'let', found '='",
                         Error);
    CHECK_THROWS_WITH_AS(parse("x = if a then b\n", "r.rasp"),
                         "r.rasp:1:16: expected 'else' after the 'then' branch, found the end of the line", Error);
}

}  // namespace circuits::rasp
