// Tests of the repeated-sequence probe: layout, seeding, shrinking to n_ctx, drawing with replacement
// only when the ordinary tokens are too few, and which tokens it draws from.
#include "lib/probe.hpp"

#include <set>

#include "lib/error.hpp"
#include "lib/model.hpp"
#include "lib/planted.hpp"
#include "tests/test_util.hpp"

namespace circuits {

TEST_CASE("repeated probe: BOS first, repeated blocks without replacement, no special tokens") {
    const Model m = planted_induction_model({.n_tokens = 30});
    const RepeatedProbe p = make_repeated_probe(m, {25, 4, 3}, 7);
    CHECK(p.offset == 1);
    CHECK(p.length == 25);
    CHECK(p.without_replacement);
    REQUIRE(p.sequences.size() == 3);
    for (const auto& seq : p.sequences) {
        REQUIRE(seq.size() == 101);
        CHECK(seq[0] == m.cfg.bos_token);
        std::set<int> block(seq.begin() + 1, seq.begin() + 26);
        CHECK(block.size() == 25);
        CHECK(block.count(m.cfg.bos_token) == 0);
        for (int r = 1; r < 4; ++r)
            for (int k = 0; k < 25; ++k)
                CHECK(seq[static_cast<size_t>(1 + r * 25 + k)] == seq[static_cast<size_t>(1 + k)]);
    }
    // Same seed, same probe; another seed, another probe.
    CHECK(make_repeated_probe(m, {25, 4, 3}, 7).sequences == p.sequences);
    CHECK(make_repeated_probe(m, {25, 4, 3}, 8).sequences != p.sequences);
}

TEST_CASE(
    "repeated probe: repeats then length shrink to fit n_ctx, with replacement only when the vocabulary is short") {
    const Model m = planted_induction_model({.n_tokens = 24, .n_ctx = 80});
    const RepeatedProbe p3 = make_repeated_probe(m, {25, 4, 2}, 1);
    CHECK(p3.repeats == 3);  // (80 - 1) / 25
    CHECK(p3.length == 25);
    CHECK(p3.sequences[0].size() == 76);
    const Model small = planted_induction_model({.n_tokens = 24, .n_ctx = 40});
    const RepeatedProbe p = make_repeated_probe(small, {25, 4, 2}, 1);
    CHECK(p.repeats == 2);
    CHECK(p.length == 19);  // (40 - 1) / 2
    CHECK(p.without_replacement);
    CHECK(p.sequences[0].size() == 39);
    for (int k = 0; k < 19; ++k) CHECK(p.sequences[1][size_t(1 + 19 + k)] == p.sequences[1][size_t(1 + k)]);
    const RepeatedProbe q = make_repeated_probe(planted_induction_model({.n_tokens = 6}), {10, 2, 1}, 1);
    CHECK_FALSE(q.without_replacement);
    std::set<int> distinct(q.sequences[0].begin() + 1, q.sequences[0].begin() + 11);
    CHECK(distinct.size() == 6);  // every usable token once before any repeats
    CHECK(make_repeated_probe(planted_induction_model({.n_tokens = 6, .n_ctx = 9}), {25, 4, 1}, 1).length == 4);
    CHECK_THROWS_AS(make_repeated_probe(planted_induction_model({.n_tokens = 6, .n_ctx = 4}), {25, 4, 1}, 1), Error);
}

TEST_CASE("repeated probe: special tokens are never drawn, by the one ordinary-token rule") {
    const Vocabulary v({"<BOS>", "a", "<pad>", "b", "[CLS]", "c", "compiler_pad", "d"});
    const RepeatedProbe p = make_repeated_probe(v, 0, 40, {.length = 4, .repeats = 2, .sequences = 5}, 3);
    CHECK(p.without_replacement);
    for (const auto& seq : p.sequences) {
        CHECK(seq[0] == 0);
        for (size_t i = 1; i < seq.size(); ++i) CHECK(std::set<int>{1, 3, 5, 7}.count(seq[i]) == 1);
    }
    CHECK_THROWS_AS(make_repeated_probe(Vocabulary({"<BOS>", "<pad>"}), 0, 40, {}, 0), Error);
}

TEST_CASE("repeated probe: the scored positions and repeat starts") {
    RepeatedProbe p;
    p.offset = 1;
    p.length = 5;
    p.repeats = 3;
    CHECK(p.first_scored() == 6);
    CHECK(p.scored_per_sequence() == 10);
    CHECK(p.repeat_start(1) == 1);
    CHECK(p.repeat_start(5) == 1);
    CHECK(p.repeat_start(6) == 6);
    CHECK(p.repeat_start(15) == 11);
}

}  // namespace circuits
