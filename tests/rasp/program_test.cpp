// Tests of elaboration: names, defs, sugar, encodings, fusion of anonymous maps, and semantic errors.
#include "lib/rasp/program.hpp"

#include <fstream>

#include "lib/error.hpp"
#include "tests/test_util.hpp"

namespace circuits::rasp {

TEST_CASE("rasp program: reverse becomes length, one fused sequence_map for opp, reverse") {
    const Program p = parse_program(
        "vocab a b c d\nmax_len 8\nlength  = selector_width(select(tokens, tokens, true))\nopp     = length - indices "
        "- 1\n"
        "reverse = aggregate(select(indices, opp, ==), tokens)\noutput reverse\n",
        "reverse.rasp");
    CHECK(p.vocab.size() == 4);
    CHECK(p.max_len == 8);
    CHECK_FALSE(p.causal);
    const auto live = p.live_nodes();
    REQUIRE(live.size() == 5);  // tokens, indices, length, opp, reverse
    const Node& opp = p.node(live[3]);
    CHECK(opp.name == "opp");
    CHECK(opp.kind == NodeKind::sequence_map);  // (length - indices) - 1 fused into one node
    CHECK(opp.fn(Value::integer(5), Value::integer(1)) == Value::integer(3));
    CHECK(opp.origin.line == 4);
    CHECK(p.output_node().name == "reverse");
    CHECK(p.output_node().kind == NodeKind::aggregate);
    CHECK(p.output_node().encoding == Encoding::categorical);
}

TEST_CASE("rasp program: defs expand with constant and s-op parameters; lets fold") {
    const Program p = parse_program(
        "vocab a b\nlet N = 2 * 3 - 5\ndef shift(s, n) = aggregate(select(indices, indices, (k, q) -> q == k + n), s)\n"
        "y = shift(tokens, N)\noutput y\n",
        "s.rasp");
    const Node& y = p.output_node();
    CHECK(y.name == "y");
    const SelectorNode& s = p.selector(y.selector);
    CHECK(s.predicate(Value::integer(2), Value::integer(3)).truthy());  // q == k + 1
    CHECK_FALSE(s.predicate(Value::integer(2), Value::integer(4)).truthy());
    CHECK(s.origin.context == " (in 'shift' called at line 4)");
}

TEST_CASE("rasp program: numerical() annotates a fresh s-op and converts a named one with a map") {
    const Program p = parse_program(
        "vocab x a\nis_x = numerical(tokens == \"x\")\nt = numerical(tokens)\nf = numerical(aggregate(select(indices, "
        "indices, <=), is_x, default: 0))\n"
        "g = f + t\noutput g\n",
        "n.rasp");
    const auto live = p.live_nodes();
    int maps = 0;
    for (int i : live) {
        const Node& n = p.node(i);
        if (n.name == "is_x") {
            CHECK(n.encoding == Encoding::numerical);
            CHECK(n.kind == NodeKind::map);
        }
        if (n.name == "t") {
            CHECK(n.kind == NodeKind::map);  // tokens itself stays categorical
            CHECK(n.encoding == Encoding::numerical);
        }
        if (n.name == "f") {
            CHECK(n.encoding == Encoding::numerical);
            CHECK(n.default_value == Value::integer(0));
        }
        maps += n.kind == NodeKind::map;
    }
    CHECK(maps == 2);
    CHECK(p.node(kTokensNode).encoding == Encoding::categorical);
}

TEST_CASE("rasp program: semantic errors name the line and column") {
    const auto err = [](const std::string& src) {
        try {
            parse_program(src, "e.rasp");
        } catch (const Error& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK(err("x = tokens + y\noutput x\n") == "e.rasp:1:14: unknown name 'y'");
    CHECK(err("x = length\noutput x\n") ==
          "e.rasp:1:5: unknown name 'length' (define it: length = selector_width(select(tokens, tokens, true)))");
    CHECK(err("x = tokens\nx = indices\noutput x\n") == "e.rasp:2:1: 'x' is already defined at line 1");
    CHECK(err("tokens = indices\n") == "e.rasp:1:1: 'tokens' is built in and cannot be redefined");
    CHECK(err("x = map(x -> x + 1, 3)\n") ==
          "e.rasp:1:21: the second argument of map must be an s-op, but it is a constant");
    CHECK(err("x = map(tokens, tokens)\n") ==
          "e.rasp:1:9: the first argument of map must be a lambda with 1 parameter (x -> ...)");
    CHECK(err("x = map((a, b) -> a, tokens)\n") ==
          "e.rasp:1:9: the first argument of map must take 1 parameter, this lambda takes 2");
    CHECK(err("s = select(tokens, tokens, ==)\nx = map(v -> s, tokens)\n") ==
          "e.rasp:2:14: 's' is a selector; a lambda computes on values (its parameters and constants), not on s-ops");
    CHECK(err("x = aggregate(tokens, tokens)\n") ==
          "e.rasp:1:15: the first argument of aggregate must be a selector (select(...)), but it is an s-op");
    CHECK(err("x = aggregate(select(tokens, tokens, ==), tokens, dflt: 1)\n") ==
          "e.rasp:1:57: aggregate() has no argument named 'dflt' (usage: aggregate(SEL, s) or aggregate(SEL, s, "
          "default: VALUE))");
    CHECK(err("x = select(tokens, tokens, ==) + tokens\n") ==
          "e.rasp:1:32: '+' of a selector and an s-op (selectors combine with and, or, not)");
    CHECK(err("let N = tokens\n") == "e.rasp:1:9: 'let N' must be a constant, but the expression is an s-op");
    CHECK(err("let N = 1 / 0\n") == "e.rasp:1:11: division by zero");
    // A def sees only names defined before it, so it cannot call itself.
    CHECK(
        err("def f(s) = f(s)\nx = f(tokens)\noutput x\n") ==
        "e.rasp:1:12: unknown function 'f' (built in: map, sequence_map, select, aggregate, selector_width, numerical, "
        "categorical; or a def) (in 'f' called at line 2)");
    CHECK(err("def f(s) = s\nx = f(tokens, 1)\n") == "e.rasp:2:5: 'f' takes 1 argument (s), got 2");
    CHECK(err("x = foo(tokens)\n") ==
          "e.rasp:1:5: unknown function 'foo' (built in: map, sequence_map, select, aggregate, selector_width, "
          "numerical, "
          "categorical; or a def)");
    CHECK(err("x = indices + 1\noutput x\n") ==
          "e.rasp:2:1: the output 'x' does not depend on tokens (every program must use tokens)");
    CHECK(err("x = tokens\n") == "e.rasp: no 'output NAME' line (which s-op is the program's result?)");
    CHECK(err("s = select(tokens, tokens, ==)\noutput s\n") ==
          "e.rasp:2:1: the output 's' must be an s-op, but it is a selector");
    CHECK(err("vocab a b a\n") == "e.rasp:1:1: token 'a' is listed twice in the vocabulary");
    CHECK(err("x = abs(tokens)\n") == "e.rasp:1:5: abs() computes on values; for an s-op use map(x -> abs(x), s)");
}

TEST_CASE("rasp program: load_program names the file; overrides replace directives") {
    test::TempDir dir;
    CHECK_THROWS_WITH_AS(load_program(dir.file("missing.rasp")),
                         (dir.file("missing.rasp") + ": cannot open the program file").c_str(), Error);
    { std::ofstream(dir.file("p.rasp")) << "vocab a b\nmax_len 3\nx = tokens == \"a\"\noutput x\n"; }
    Program p = load_program(dir.file("p.rasp"));
    CHECK(p.filename == dir.file("p.rasp"));
    ProgramOverrides o;
    o.vocab = std::vector<Value>{Value::string("a"), Value::string("c")};
    o.max_len = 6;
    o.causal = true;
    apply_overrides(p, o);
    CHECK(p.vocab[1].as_string() == "c");
    CHECK(p.max_len == 6);
    CHECK(p.causal);
    o.max_len = 0;
    CHECK_THROWS_AS(apply_overrides(p, o), Error);
}

}  // namespace circuits::rasp
