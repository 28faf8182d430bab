// Tests of the evaluator: the examples table of RASP.md, causal masks, none, and errors.
#include "lib/rasp/evaluator.hpp"

#include "lib/error.hpp"
#include "tests/test_util.hpp"

namespace circuits::rasp {

namespace {

std::string join(const std::vector<Value>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? " " : "") + v[i].to_string();
    return s;
}

std::string run(const std::string& source, const std::vector<std::string>& input) {
    const Program p = parse_program(source, "t.rasp");
    return join(evaluate(p, tokens_from_strings(p, input)));
}

}  // namespace

TEST_CASE("rasp evaluator: the examples table of RASP.md") {
    const std::string length = "length = selector_width(select(tokens, tokens, true))\n";
    CHECK(run("vocab a b c\n" + length + "output length\n", {"a", "b", "c"}) == "3 3 3");
    CHECK(run("vocab a b c d\n" + length +
                  "opp = length - indices - 1\nreverse = aggregate(select(indices, opp, ==), tokens)\noutput reverse\n",
              {"a", "b", "c", "d"}) == "d c b a");
    CHECK(run("vocab a b c\nhist = selector_width(select(tokens, tokens, ==))\noutput hist\n", {"a", "b", "a", "c"}) ==
          "2 1 2 1");
    CHECK(run("vocab 1 2 3 4\ntarget = selector_width(select(tokens, tokens, <))\nsort = aggregate(select(target, "
              "indices, ==), tokens)\noutput sort\n",
              {"2", "4", "3", "1"}) == "1 2 3 4");
    CHECK(run("vocab x a b\nf = numerical(aggregate(select(indices, indices, <=), numerical(tokens == \"x\"), default: "
              "0))\noutput f\n",
              {"x", "a", "x", "b", "x"}) == "1 0.5 0.6666666666666666 0.5 0.6");
    CHECK(run("vocab a b c d\ns = aggregate(select(indices, indices, (k, q) -> q == k + 1), tokens)\noutput s\n",
              {"a", "b", "c", "d"}) == "none a b c");
}

TEST_CASE("rasp evaluator: a causal mask limits query i to keys j <= i") {
    const std::string src =
        "vocab a b\nn = selector_width(select(tokens, tokens, true))\nlast = aggregate(select(indices, indices, >), "
        "tokens)\n";
    CHECK(run(src + "output n\n", {"a", "b", "a"}) == "3 3 3");
    CHECK(run("causal\n" + src + "output n\n", {"a", "b", "a"}) == "1 2 3");
    // Keys after the query are hidden: nothing selected, so none.
    CHECK(run("causal\n" + src + "output last\n", {"a", "b"}) == "none none");
}

TEST_CASE("rasp evaluator: none propagates through maps and is never selected, also under not") {
    const std::string src =
        "vocab a b c\nprev = aggregate(select(indices, indices, (k, q) -> q == k + 1), tokens)\n"
        "is_a = prev == \"a\"\npair = sequence_map((x, y) -> x + y, prev, tokens)\n"
        "differ = selector_width(not select(prev, tokens, ==))\nasks = selector_width(select(tokens, prev, !=))\n";
    CHECK(run(src + "output is_a\n", {"a", "a", "b"}) == "none true true");
    CHECK(run(src + "output pair\n", {"a", "b", "c"}) == "none ab bc");
    // Key 0 (prev none) is never selected, even by `not`; tokens c c c: prev = none c c.
    CHECK(run(src + "output differ\n", {"c", "c", "c"}) == "0 0 0");
    CHECK(run(src + "output differ\n", {"a", "b", "c"}) == "1 1 2");
    // A none query selects nothing.
    CHECK(run(src + "output asks\n", {"a", "b", "c"}) == "0 2 2");
}

TEST_CASE("rasp evaluator: a categorical aggregate over different values is none; numerical is the mean") {
    const std::string src =
        "vocab a b\ncat = aggregate(select(tokens, tokens, true), tokens)\n"
        "num = numerical(aggregate(select(tokens, tokens, true), numerical(tokens == \"a\")))\n";
    CHECK(run(src + "output cat\n", {"a", "a"}) == "a a");
    CHECK(run(src + "output cat\n", {"a", "b"}) == "none none");
    CHECK(run(src + "output num\n", {"a", "b", "b", "b"}) == "0.25 0.25 0.25 0.25");
    CHECK(run("vocab a b\nx = aggregate(select(tokens, tokens, ==), tokens, default: 7)\ny = aggregate(select(tokens, "
              "tokens, false), tokens, default: 7)\noutput y\n",
              {"a"}) == "7");
}

TEST_CASE("rasp evaluator: selectors combine with and, or, not") {
    const std::string src = "vocab a b\nsame = select(tokens, tokens, ==)\nbefore = select(indices, indices, <)\n";
    CHECK(run(src + "w = selector_width(same and before)\noutput w\n", {"a", "b", "a", "a"}) == "0 0 1 2");
    CHECK(run(src + "w = selector_width(same or before)\noutput w\n", {"a", "b", "a", "a"}) == "3 2 4 4");
    CHECK(run(src + "w = selector_width(not same)\noutput w\n", {"a", "b", "a", "a"}) == "1 3 1 1");
}

TEST_CASE("rasp evaluator: errors name the line and the position") {
    const std::string src = "vocab 0 1 2\nx = map(v -> 6 / v, tokens)\noutput x\n";
    const Program p = parse_program(src, "t.rasp");
    CHECK(join(evaluate(p, tokens_from_strings(p, {"1", "2"}))) == "6 3");
    CHECK_THROWS_WITH_AS(evaluate(p, tokens_from_strings(p, {"1", "0"})),
                         "t.rasp:2:5: division by zero in v -> (6 / v) (input 0) at position 1", Error);
    CHECK_THROWS_WITH_AS(tokens_from_strings(p, {"3"}), "t.rasp: token '3' is not in the vocabulary (0 1 2)", Error);
    const Program q = parse_program("vocab a\nmax_len 2\nx = tokens == \"a\"\noutput x\n", "q.rasp");
    CHECK_THROWS_WITH_AS(tokens_from_strings(q, {"a", "a", "a"}),
                         "q.rasp: the input has 3 tokens, more than max_len = 2", Error);
    const Program r =
        parse_program("vocab a\nx = numerical(aggregate(select(tokens, tokens, true), tokens))\noutput x\n", "r.rasp");
    CHECK_THROWS_WITH_AS(
        evaluate(r, tokens_from_strings(r, {"a"})),
        "r.rasp:2:15: numerical aggregate of the non-numeric value 'a' (from position 0) at position 0", Error);
}

}  // namespace circuits::rasp
