// Tests of the induction pass: the planted pair is found exactly, random heads are not flagged, and the
// scores of a hand-built uniform head match their closed forms.
#include "analyses/induction.hpp"

#include <cstring>

#include "analyses/eigen.hpp"
#include "lib/error.hpp"
#include "lib/forward.hpp"
#include "lib/planted.hpp"
#include "tests/test_util.hpp"

namespace circuits::analyses {

namespace {

constexpr double kScoreTol = 1e-5;  // float32 attention sums over ~100 positions

int count_flags(const Array<std::uint8_t>& a) {
    int n = 0;
    for (auto v : a.data) n += v;
    return n;
}

// A one-layer, one-head model whose head attends uniformly (W_Q = W_K = 0) and whose OV circuit is the
// identity on one-hot token embeddings: the head's logit contribution is the attention mass per token.
Model uniform_copying_model(int vocab) {
    ModelConfig c;
    c.n_layers = 1;
    c.n_heads = 1;
    c.d_model = vocab;
    c.d_head = vocab;
    c.d_vocab = vocab;
    c.d_vocab_out = vocab;
    c.n_ctx = 64;
    c.positional_embedding_type = PositionalEmbedding::none;
    Model m = Model::zeros(c);
    m.W_E.setIdentity();
    m.blocks[0].attn.W_V[0].setIdentity();
    m.blocks[0].attn.W_O[0].setIdentity();
    m.W_U.setIdentity();
    return m;
}

}  // namespace

TEST_CASE("induction: the planted model has exactly L1H0 as induction head and L0H0 as previous-token head") {
    const Model m = planted_induction_model();
    const InductionResult r = compute_induction(m, {});
    INFO("prev_token\n"
         << r.prev_token << "\ninduction\n"
         << r.induction << "\nov_copying\n"
         << r.ov_copying << "\ncopying_eval\n"
         << r.copying_eval << "\nmechanistic\n"
         << r.mechanistic);
    CHECK(count_flags(r.is_induction_head) == 1);
    CHECK(r.is_induction_head.at({1, 0}) == 1);
    CHECK(count_flags(r.is_prev_token_head) == 1);
    CHECK(r.is_prev_token_head.at({0, 0}) == 1);
    CHECK(count_flags(r.is_copying_head) == 1);
    CHECK(r.is_copying_head.at({1, 0}) == 1);
    CHECK(r.prev_token(0, 0) > 0.99);
    CHECK(r.induction(1, 0) > 0.9);
    CHECK(r.ov_copying(1, 0) > 0.99);
    CHECK(r.copying_eval(1, 0) > 0.9);
    // L0H0 writes only the prev: subspace, which W_U does not read: no direct effect, no OV circuit.
    CHECK(std::isnan(r.copying_eval(0, 0)));
    CHECK(std::isnan(r.ov_copying(0, 0)));
    // K-composition of the induction head with the previous-token head: M = c diag(0, 1, ..., 1).
    const double V = m.cfg.d_vocab;
    CHECK(r.k_composition_trace.at({0, 0, 1, 0}) == doctest::Approx(std::sqrt((V - 1) / V)).epsilon(1e-4));
    CHECK(r.mechanistic(1, 0) > 0.9);
    CHECK(std::abs(r.mechanistic(1, 1)) < 0.2);
    CHECK(r.mechanistic(0, 0) == 0.0f);
    CHECK(std::isnan(r.k_composition_trace.at({1, 0, 0, 0})));  // later -> earlier: undefined
    CHECK(std::isnan(r.k_composition_trace.at({0, 0, 0, 1})));  // same layer: undefined
}

TEST_CASE("induction: nothing is flagged in a one-layer random model") {
    ModelConfig c;
    c.n_layers = 1;
    c.n_heads = 4;
    c.d_model = 16;
    c.d_head = 4;
    c.d_vocab = 40;
    c.d_vocab_out = 40;
    c.n_ctx = 128;
    const Model m = test::random_model(c, 11);
    const InductionResult r = compute_induction(m, {});
    INFO("prev_token\n" << r.prev_token << "\ninduction\n" << r.induction << "\nov_copying\n" << r.ov_copying);
    CHECK(count_flags(r.is_induction_head) == 0);
    CHECK(count_flags(r.is_prev_token_head) == 0);
    CHECK(r.induction.maxCoeff() < 0.2);
    CHECK(r.mechanistic.cwiseAbs().maxCoeff() == 0.0f);  // no earlier layer to compose with
}

TEST_CASE("induction: a uniform head's scores are their closed forms") {
    const int V = 40, n = 5, R = 4;
    const Model m = uniform_copying_model(V);
    InductionOptions o;
    o.probe_length = n;
    o.probe_repeats = R;
    o.probe_sequences = 3;
    o.seed = 5;
    const InductionResult r = compute_induction(m, o);
    const RepeatedProbe p = make_repeated_probe(m, {n, R, o.probe_sequences}, o.seed);
    REQUIRE(p.offset == 0);
    // Position i = r n + k (repeat r >= 1) sees i + 1 keys with weight 1/(i+1): the previous one, r earlier
    // occurrences of its token and the r positions after them.
    double prev = 0.0, dup = 0.0, share = 0.0;
    int count = 0;
    for (const auto& seq : p.sequences) {
        (void)seq;
        for (int rep = 1; rep < R; ++rep)
            for (int k = 0; k < n; ++k) {
                const int i = rep * n + k;
                prev += 1.0 / (i + 1);
                dup += double(rep) / (i + 1);
                // Logit contribution d = attention mass per token: tokens of offsets <= k have rep + 1
                // occurrences, the others rep. p = ReLU(d - 1/V) is nonzero on the n tokens in context.
                const double top = double(rep + 1) / (i + 1);
                share += (top - 1.0 / V) / (1.0 - double(n) / V);
                ++count;
            }
    }
    CHECK(r.n_positions == count);
    CHECK(r.prev_token(0, 0) == doctest::Approx(prev / count).epsilon(kScoreTol));
    CHECK(r.duplicate_token(0, 0) == doctest::Approx(dup / count).epsilon(kScoreTol));
    CHECK(r.induction(0, 0) == doctest::Approx(dup / count).epsilon(kScoreTol));
    const double chance = 1.0 / V, mean_share = share / count;
    CHECK(r.copying_eval(0, 0) == doctest::Approx((mean_share - chance) / (1 - chance)).epsilon(kScoreTol));
    // The OV circuit is the identity: every eigenvalue 1.
    CHECK(r.ov_copying(0, 0) == doctest::Approx(1.0).epsilon(kScoreTol));
}

}  // namespace circuits::analyses

namespace circuits::analyses {

TEST_CASE("regression: the induction pass's ov_copying is /eigen's ov_copying, bit for bit, not a second computation") {
    for (const Model& m : {planted_induction_model(), test::random_model(
                                                          [] {
                                                              ModelConfig c;
                                                              c.n_layers = 2;
                                                              c.n_heads = 3;
                                                              c.d_model = 12;
                                                              c.d_head = 4;
                                                              c.d_vocab = c.d_vocab_out = 30;
                                                              c.n_ctx = 64;
                                                              return c;
                                                          }(),
                                                          5)}) {
        const InductionResult r = compute_induction(m, {});
        const EigenResult e = compute_eigen(m);
        const int L = m.cfg.n_layers, H = m.cfg.n_heads;
        REQUIRE(e.ov_copying.data.size() == static_cast<size_t>(L * H));
        for (int l = 0; l < L; ++l)
            for (int h = 0; h < H; ++h) {
                const float a = r.ov_copying(l, h), b = e.ov_copying.data[static_cast<size_t>(l * H + h)];
                CAPTURE(l);
                CAPTURE(h);
                CHECK(std::memcmp(&a, &b, sizeof a) == 0);  // NaN included
            }
    }
}

TEST_CASE("regression: induction reads the OV copying scores handed in by the eigen pass (computed once per run)") {
    const Model m = planted_induction_model();
    const EmbeddingGrams g = embedding_grams(m);
    // By default they are /eigen's, by the same computation.
    const InductionResult own = compute_induction(m, {}, g);
    const EigenResult e = compute_eigen(m, {}, g);
    for (int l = 0; l < m.cfg.n_layers; ++l)
        for (int h = 0; h < m.cfg.n_heads; ++h) {
            const float want = e.ov_copying.at({l, h});  // NaN where undefined (L0H0 of the planted model)
            CHECK(((std::isnan(want) && std::isnan(own.ov_copying(l, h))) || own.ov_copying(l, h) == want));
        }
    // Handed in, they are read as they are: a marked array shows through.
    Array<float> given = e.ov_copying;
    given.at({0, 0}) = 0.25f;
    const InductionResult read = compute_induction(m, {}, g, &given);
    CHECK(read.ov_copying(0, 0) == 0.25f);
    CHECK(read.ov_copying(1, 0) == e.ov_copying.at({1, 0}));
    Array<float> wrong = Array<float>::nan({1, 1});
    CHECK_THROWS_AS(compute_induction(m, {}, g, &wrong), Error);
}

}  // namespace circuits::analyses
