// Tests of the static analysis: value sets, none, injective and uniform s-ops, combined selectors.
#include "lib/rasp/analysis.hpp"

#include "lib/error.hpp"
#include "tests/test_util.hpp"

namespace circuits::rasp {

namespace {

// The node named `name` among the live nodes.
int find(const Program& p, const std::string& name) {
    for (int i : p.live_nodes())
        if (p.node(i).name == name) return i;
    FAIL("no live node named " << name);
    return -1;
}

std::string values(const Analysis& a, int n) {
    std::string s;
    for (const auto& v : a.sop(n).values) s += (s.empty() ? "" : " ") + v.to_string();
    return s;
}

const std::string kSort =
    "vocab 1 2 3\nmax_len 4\nkeys = tokens + indices / 4\nrank = selector_width(select(keys, keys, <))\n"
    "rank_unique = selector_width(select(tokens, tokens, <))\n"
    "sort = aggregate(select(rank, indices, ==), tokens)\nsort_unique = aggregate(select(rank_unique, indices, ==), "
    "tokens)\n"
    "both = sequence_map((a, b) -> a, sort, sort_unique)\noutput both\n";

}  // namespace

TEST_CASE("rasp analysis: value sets of inputs, maps, sequence_maps, selector_width and aggregates") {
    const Program p = parse_program(
        "vocab a b\nmax_len 3\nlength = selector_width(select(tokens, tokens, true))\nopp = length - indices - 1\n"
        "is_a = tokens == \"a\"\nfrac = numerical(aggregate(select(indices, indices, <=), numerical(is_a), default: "
        "0))\n"
        "rev = aggregate(select(indices, opp, ==), tokens)\nout = sequence_map((r, f) -> r + str(f), rev, "
        "categorical(frac))\noutput out\n",
        "v.rasp");
    const Analysis a = analyse(p);
    CHECK(values(a, kTokensNode) == "a b");
    CHECK(values(a, kIndicesNode) == "0 1 2");
    CHECK(values(a, find(p, "length")) == "0 1 2 3");
    CHECK(values(a, find(p, "opp")) == "-3 -2 -1 0 1 2");
    CHECK(values(a, find(p, "is_a")) == "false true");
    CHECK(values(a, find(p, "frac")) == "0 0.3333333333333333 0.5 0.6666666666666666 1");
    CHECK(values(a, find(p, "rev")) == "a b");
    CHECK(a.sop(find(p, "out")).values.size() == 10);
    CHECK(mean_values(2).size() == 3);
}

TEST_CASE("rasp analysis: none, injective and uniform s-ops") {
    const Program p = parse_program(
        "vocab a b\nmax_len 4\nlength = selector_width(select(tokens, tokens, true))\nopp = length - indices - 1\n"
        "prev = aggregate(select(indices, indices, (k, q) -> q == k + 1), tokens)\nrev = aggregate(select(indices, "
        "opp, ==), tokens)\n"
        "frac = numerical(aggregate(select(indices, indices, <=), numerical(tokens == \"a\")))\n"
        "x = sequence_map((a, b) -> a, prev, rev)\ny = sequence_map((a, b) -> a, x, frac > 0)\noutput y\n",
        "f.rasp");
    const Analysis a = analyse(p);
    CHECK(a.sop(find(p, "length")).uniform);
    CHECK_FALSE(a.sop(find(p, "length")).injective);
    CHECK(a.sop(find(p, "opp")).injective);  // uniform length, injective indices
    CHECK(a.sop(kIndicesNode).injective);
    CHECK(a.sop(find(p, "prev")).may_be_none);  // nothing selected at position 0
    CHECK_FALSE(a.sop(find(p, "prev")).ambiguous);
    CHECK(a.sop(find(p, "rev")).may_be_none);         // not proven to select a key for every query
    CHECK_FALSE(a.sop(find(p, "frac")).may_be_none);  // <= on indices selects the query itself
}

TEST_CASE("rasp analysis: sort keys made unique give an injective rank; repeated keys are ambiguous") {
    const Program p = parse_program(kSort, "s.rasp");
    const Analysis a = analyse(p);
    CHECK(a.sop(find(p, "keys")).injective);
    CHECK(a.sop(find(p, "rank")).injective);
    CHECK_FALSE(a.sop(find(p, "rank_unique")).injective);
    CHECK_FALSE(a.sop(find(p, "sort")).ambiguous);
    CHECK(a.sop(find(p, "sort_unique")).ambiguous);
    CHECK(a.sop(find(p, "sort_unique")).consumed);
}

TEST_CASE("rasp analysis: and / or / not combine predicates over the same key and query s-ops") {
    const Program p = parse_program(
        "vocab a b c\nmax_len 3\nsame = select(tokens, tokens, ==)\n"
        "w1 = selector_width(same and select(tokens, tokens, (k, q) -> k != \"a\"))\n"
        "w2 = selector_width(not same or select(tokens, indices, (k, q) -> k == \"b\"))\n"
        "w3 = selector_width(same and select(indices, indices, <))\n"
        "out = sequence_map((x, y) -> x + y, sequence_map((x, y) -> x + y, w1, w2), w3)\noutput out\n",
        "c.rasp");
    const Analysis a = analyse(p);
    const auto& s1 = a.selector(p.node(find(p, "w1")).selector);
    REQUIRE(s1.combined);
    CHECK(s1.keys == kTokensNode);
    // [query value][key value] over a b c: equal and key != a.
    CHECK(s1.matrix == std::vector<std::vector<char>>{{0, 0, 0}, {0, 1, 0}, {0, 0, 1}});
    CHECK(s1.functional);
    const auto& s2 = a.selector(p.node(find(p, "w2")).selector);
    REQUIRE(s2.combined);  // the second select ignores its queries (indices, never none)
    CHECK(s2.queries == kTokensNode);
    CHECK(s2.matrix == std::vector<std::vector<char>>{{0, 1, 1}, {1, 1, 1}, {1, 1, 0}});
    // Different s-ops: a joint key and query s-op, the tuples of (tokens, indices), first part
    // most significant.
    const auto& s3 = a.selector(p.node(find(p, "w3")).selector);
    CHECK_FALSE(s3.combined);
    CHECK(s3.key_parts == std::vector<int>{kTokensNode, kIndicesNode});
    CHECK(s3.query_parts == std::vector<int>{kTokensNode, kIndicesNode});
    REQUIRE(s3.key_labels.size() == 9);
    CHECK(s3.key_labels[0] == "(a, 0)");
    CHECK(s3.key_labels[5] == "(b, 2)");
    // query (b, 2) selects the keys (b, 0) and (b, 1): equal token, earlier index.
    CHECK(s3.matrix[5] == std::vector<char>{0, 0, 0, 1, 1, 0, 0, 0, 0});
    CHECK_FALSE(s3.functional);
}

TEST_CASE("rasp analysis: needs a vocabulary and max_len") {
    const Program p = parse_program("x = tokens == 1\noutput x\n", "m.rasp");
    CHECK_THROWS_WITH_AS(analyse(p), "m.rasp: no vocabulary (add a 'vocab' line or pass --vocab)", Error);
    const Program q = parse_program("vocab 1\nx = tokens == 1\noutput x\n", "m.rasp");
    CHECK_THROWS_WITH_AS(analyse(q), "m.rasp: no max_len (add a 'max_len' line or pass --max-len)", Error);
}

}  // namespace circuits::rasp
