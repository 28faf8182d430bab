// Tests of the path-expansion pass: factored statistics against dense token-space circuits, the
// ablation on the planted model, and a model whose heads write nothing.
#include "analyses/path_expansion.hpp"

#include <Eigen/Eigenvalues>
#include <fstream>

#include "lib/error.hpp"
#include "lib/forward.hpp"
#include "lib/planted.hpp"
#include "tests/test_util.hpp"

namespace circuits::analyses {

namespace {

constexpr double kNormTol = 1e-5;     // relative, float32 factors against a double dense product
constexpr double kCopyingTol = 1e-4;  // absolute, eigenvalue sums of rank-deficient dense matrices
constexpr double kLossTol = 1e-5;

using MatrixD = Eigen::MatrixXd;

MatrixD d(const Matrix& m) {
    return m.cast<double>();
}

double dense_copying(const MatrixD& full) {
    Eigen::EigenSolver<MatrixD> solver(full, false);
    double sum = 0.0, sum_abs = 0.0;
    for (Eigen::Index i = 0; i < full.rows(); ++i) {
        sum += solver.eigenvalues()(i).real();
        sum_abs += std::abs(solver.eigenvalues()(i));
    }
    return sum / sum_abs;
}

ModelConfig square_config(int layers) {
    ModelConfig c = test::small_config(PositionalEmbedding::standard, Normalization::none);
    c.n_layers = layers;
    c.d_vocab_out = c.d_vocab;
    return c;
}

}  // namespace

TEST_CASE("path expansion: factored norms and copying scores equal those of the dense token-space circuits") {
    const Model m = test::random_model(square_config(3), 21);
    PathExpansionOptions o;
    o.max_order = 3;
    o.tokens = {{1, 2, 3, 4, 1, 2, 3, 4}};
    const PathExpansionResult r = compute_path_expansion(m, o);
    const auto& c = m.cfg;
    const int H = c.n_heads;
    const MatrixD W_E = d(m.W_E), W_U = d(m.W_U);
    auto ov = [&](int l, int h) {
        const auto& a = m.blocks[static_cast<size_t>(l)].attn;
        return MatrixD(d(a.W_V[static_cast<size_t>(h)]) * d(a.W_O[static_cast<size_t>(h)]));
    };
    auto qk = [&](int l, int h) {
        const auto& a = m.blocks[static_cast<size_t>(l)].attn;
        return MatrixD(d(a.W_Q[static_cast<size_t>(h)]) * d(a.W_K[static_cast<size_t>(h)]).transpose() /
                       c.effective_attn_scale());
    };

    const MatrixD direct = W_E * W_U;
    CHECK(r.direct_norm == doctest::Approx(direct.norm()).epsilon(kNormTol));
    CHECK(r.direct_copying == doctest::Approx(dense_copying(direct)).epsilon(kCopyingTol));
    for (int l = 0; l < c.n_layers; ++l)
        for (int h = 0; h < H; ++h) {
            CAPTURE(l);
            CAPTURE(h);
            const MatrixD full = W_E * ov(l, h) * W_U;
            CHECK(r.head_norm(l, h) == doctest::Approx(full.norm()).epsilon(kNormTol));
            CHECK(r.head_copying(l, h) == doctest::Approx(dense_copying(full)).epsilon(kCopyingTol));
            const MatrixD qk_full = W_E * qk(l, h) * W_E.transpose();
            CHECK(r.qk_direct_norm(l, h) == doctest::Approx(qk_full.norm()).epsilon(kNormTol));
            CHECK(r.qk_direct_copying(l, h) == doctest::Approx(dense_copying(qk_full)).epsilon(kCopyingTol));
            for (int l1 = 0; l1 < c.n_layers; ++l1)
                for (int h1 = 0; h1 < H; ++h1) {
                    CAPTURE(l1);
                    CAPTURE(h1);
                    const float v = r.virtual_norm.at({l1, h1, l, h});
                    if (l1 >= l) {
                        CHECK(std::isnan(v));
                        CHECK(std::isnan(r.qk_q_norm.at({l1, h1, l, h})));
                        CHECK(std::isnan(r.qk_k_norm.at({l1, h1, l, h})));
                        continue;
                    }
                    const MatrixD virt = W_E * ov(l1, h1) * ov(l, h) * W_U;
                    CHECK(v == doctest::Approx(virt.norm()).epsilon(kNormTol));
                    CHECK(r.virtual_copying.at({l1, h1, l, h}) ==
                          doctest::Approx(dense_copying(virt)).epsilon(kCopyingTol));
                    const MatrixD q_term = W_E * ov(l1, h1) * qk(l, h) * W_E.transpose();
                    const MatrixD k_term = W_E * qk(l, h) * (W_E * ov(l1, h1)).transpose();
                    CHECK(r.qk_q_norm.at({l1, h1, l, h}) == doctest::Approx(q_term.norm()).epsilon(kNormTol));
                    CHECK(r.qk_k_norm.at({l1, h1, l, h}) == doctest::Approx(k_term.norm()).epsilon(kNormTol));
                    CHECK(r.qk_q_copying.at({l1, h1, l, h}) ==
                          doctest::Approx(dense_copying(q_term)).epsilon(kCopyingTol));
                    CHECK(r.qk_k_copying.at({l1, h1, l, h}) ==
                          doctest::Approx(dense_copying(k_term)).epsilon(kCopyingTol));
                    for (int l2 = 0; l2 < l; ++l2)
                        for (int h2 = 0; h2 < H; ++h2) {
                            const MatrixD both = W_E * ov(l1, h1) * qk(l, h) * (W_E * ov(l2, h2)).transpose();
                            CHECK(r.qk_qk_norm.at({l1, h1, l2, h2, l, h}) ==
                                  doctest::Approx(both.norm()).epsilon(kNormTol));
                        }
                }
        }
    // Order 3: every chain through the three layers, H^3 of them.
    REQUIRE(r.chains.size() == 1);
    REQUIRE(r.chains[0].size() == static_cast<size_t>(H * H * H));
    for (const auto& ch : r.chains[0]) {
        REQUIRE(ch.heads.size() == 3);
        const MatrixD full = W_E * ov(ch.heads[0].first, ch.heads[0].second) *
                             ov(ch.heads[1].first, ch.heads[1].second) * ov(ch.heads[2].first, ch.heads[2].second) *
                             W_U;
        CHECK(ch.norm == doctest::Approx(full.norm()).epsilon(kNormTol));
        CHECK(ch.copying == doctest::Approx(dense_copying(full)).epsilon(kCopyingTol));
    }
}

TEST_CASE("path expansion: copying scores are NaN when the vocabularies share no token") {
    Model m = test::random_model(test::small_config(PositionalEmbedding::standard, Normalization::none), 3);
    std::vector<std::string> renamed = m.vocab_out;
    for (auto& s : renamed) s = "out_" + s;
    m.vocab_out = renamed;
    PathExpansionOptions o;
    o.tokens = {{1, 2, 3}};
    const PathExpansionResult r = compute_path_expansion(m, o);
    CHECK(std::isnan(r.direct_copying));
    CHECK(std::isnan(r.head_copying(0, 0)));
    CHECK(r.head_norm(0, 0) > 0.0f);
    CHECK_FALSE(std::isnan(r.qk_direct_copying(0, 0)));  // QK terms are [d_vocab, d_vocab]
    // No next token can be scored: the loss by order is not measured, and the results say so.
    CHECK(r.loss_positions == 0);
    CHECK(r.order_loss.empty());
    CHECK(std::isnan(r.real_loss));
}

TEST_CASE("path expansion: in the planted model the loss falls at order 1 and order 2 adds nothing") {
    // The induction head's pattern is frozen to the real run's, so its copying is an order-1 term
    // (W_E OV^{L1H0} W_U); its K-composition with the previous-token head acts through the pattern, not
    // through a value path. The only order-2 path, L0H0 -> L1H0, is zero: L1H0 reads tok:, L0H0 writes prev:.
    const Model m = planted_induction_model();
    const PathExpansionResult r = compute_path_expansion(m, {});
    REQUIRE(r.order_loss.size() == 3);
    REQUIRE(r.order_loss_repeated.size() == 3);
    INFO("order_loss " << r.order_loss[0] << " " << r.order_loss[1] << " " << r.order_loss[2] << " real " << r.real_loss
                       << "; repeated " << r.order_loss_repeated[0] << " " << r.order_loss_repeated[1] << " "
                       << r.order_loss_repeated[2] << " real " << r.real_loss_repeated);
    const double uniform = std::log(double(m.cfg.d_vocab_out));
    CHECK(r.order_loss_repeated[0] == doctest::Approx(uniform).epsilon(1e-3));  // direct path: W_E W_U = 0
    CHECK(r.order_loss_repeated[1] < 0.1 * uniform);
    // Order 2 changes the loss by less than 1% of what order 1 did (measured: 3.219 -> 0.2416 -> 0.2415).
    CHECK(std::abs(r.order_loss_repeated[2] - r.order_loss_repeated[1]) <
          0.01 * (r.order_loss_repeated[0] - r.order_loss_repeated[1]));
    CHECK(std::abs(r.order_loss[2] - r.order_loss[1]) < 0.01 * (r.order_loss[0] - r.order_loss[1]));
    // Two layers: order 2 holds every path, so run 2 is the real model.
    CHECK(r.order_loss[2] == doctest::Approx(r.real_loss).epsilon(kLossTol));
    CHECK(r.order_loss_repeated[2] == doctest::Approx(r.real_loss_repeated).epsilon(kLossTol));
    // The virtual head L0H0 -> L1H0 is zero; the induction head's own OV circuit copies.
    CHECK(r.virtual_norm.at({0, 0, 1, 0}) < 1e-6f);
    CHECK(r.head_copying(1, 0) > 0.99f);
    // Its K-composition with the previous-token head: the key side runs through L0H0.
    CHECK(r.qk_k_norm.at({0, 0, 1, 0}) > 5.0f * r.qk_k_norm.at({0, 1, 1, 0}));  // measured 98 vs 8.5
    CHECK(r.qk_k_copying.at({0, 0, 1, 0}) > 0.9f);
}

TEST_CASE("path expansion: every ablation term is 0 when no head writes to the residual stream") {
    Model m = test::random_model(square_config(2), 5);
    for (auto& b : m.blocks)
        for (auto& W_O : b.attn.W_O) W_O.setZero();
    PathExpansionOptions o;
    o.max_order = 3;
    o.tokens = {{0, 1, 2, 3, 4, 5}, {6, 7, 8, 9, 10, 0, 1, 2, 3}};
    const PathExpansionResult r = compute_path_expansion(m, o);
    REQUIRE(r.order_loss.size() == 4);
    for (double loss : r.order_loss) CHECK(loss == doctest::Approx(r.order_loss[0]).epsilon(kLossTol));
    CHECK(r.real_loss == doctest::Approx(r.order_loss[0]).epsilon(kLossTol));
    CHECK(r.loss_positions == 5 + 8);
    CHECK(r.order_loss_repeated.empty());  // not the probe
    CHECK(r.head_norm.cwiseAbs().maxCoeff() == 0.0f);
}

TEST_CASE("path expansion: a token file is read line by line, BOS prepended, errors name the line") {
    const Model m = planted_induction_model();
    test::TempDir dir;
    const auto path = dir.file("tokens.txt");
    {
        std::ofstream f(path);
        f << "a b c a b c\n\n# comment\nd e\n";
    }
    const auto seqs = read_token_file(m, path);
    REQUIRE(seqs.size() == 2);
    CHECK(seqs[0] == std::vector<int>{0, 1, 2, 3, 1, 2, 3});
    CHECK(seqs[1] == std::vector<int>{0, 4, 5});
    {
        std::ofstream f(path);
        f << "a b\na zz\n";
    }
    try {
        read_token_file(m, path);
        FAIL("expected an error");
    } catch (const Error& e) {
        CHECK(std::string(e.what()).find("tokens.txt:2: token 'zz'") != std::string::npos);
    }
    CHECK_THROWS_AS(read_token_file(m, dir.file("missing.txt")), Error);
}

}  // namespace circuits::analyses

namespace circuits::analyses {

TEST_CASE("path expansion: the real and fully ablated losses equal cross-entropies of per-sequence forward passes") {
    // The ablation unembeds all sequences of a run in one product; here each sequence is run alone.
    ModelConfig c = test::small_config(PositionalEmbedding::standard, Normalization::LN);
    c.d_vocab_out = c.d_vocab;
    const Model m = test::random_model(c, 12);
    PathExpansionOptions o;
    o.tokens = {{1, 2, 3, 4, 5}, {6, 7, 8}, {2, 2, 9, 1, 0, 3, 4}};
    o.threads = 2;
    const PathExpansionResult r = compute_path_expansion(m, o);
    ForwardHooks all;
    for (int l = 0; l < c.n_layers; ++l)
        for (int h = 0; h < c.n_heads; ++h) all.ablated_heads.emplace_back(l, h);
    double real = 0.0, ablated = 0.0;
    int n = 0;
    for (const auto& seq : o.tokens) {
        const Matrix a = forward(m, seq).logits, b = forward(m, seq, all).logits;
        for (size_t t = 0; t + 1 < seq.size(); ++t) {
            const auto i = static_cast<Eigen::Index>(t);
            auto ce = [&](const Matrix& lg) {
                const Eigen::VectorXd row = lg.row(i).transpose().cast<double>();
                return std::log((row.array() - row.maxCoeff()).exp().sum()) + row.maxCoeff() - row(seq[t + 1]);
            };
            real += ce(a);
            ablated += ce(b);
            ++n;
        }
    }
    REQUIRE(r.loss_positions == n);
    CHECK(r.real_loss == doctest::Approx(real / n).epsilon(kLossTol));
    CHECK(r.order_loss[0] == doctest::Approx(ablated / n).epsilon(kLossTol));
}

TEST_CASE("regression: /path's direct, per-head OV and QK copying scores are /eigen's (one computation)") {
    ModelConfig c = test::small_config(PositionalEmbedding::standard, Normalization::none);
    const Model m = test::random_model(c, 21);
    const EmbeddingGrams g = embedding_grams(m);
    const EigenResult e = compute_eigen(m, {}, g);
    const PathExpansionResult own = compute_path_expansion(m, {}, g);
    CHECK(own.direct_copying == e.direct_copying);
    for (int l = 0; l < c.n_layers; ++l)
        for (int h = 0; h < c.n_heads; ++h) {
            CHECK(own.head_copying(l, h) == e.ov_copying.at({l, h}));
            CHECK(own.qk_direct_copying(l, h) == e.qk_copying.at({l, h}));
        }
    // Handed in by the eigen pass, they are read rather than computed again.
    EigenResult marked = e;
    marked.ov_copying.at({0, 0}) = 0.5f;
    marked.qk_copying.at({0, 0}) = -0.5f;
    marked.direct_copying = 0.125f;
    const PathExpansionResult read = compute_path_expansion(m, {}, g, &marked);
    CHECK(read.head_copying(0, 0) == 0.5f);
    CHECK(read.qk_direct_copying(0, 0) == -0.5f);
    CHECK(read.direct_copying == 0.125);
}

TEST_CASE("regression: /path/direct_copying of a zero direct path is NaN, not the copying score of rounding noise") {
    // W_E writes the first half of the residual stream and W_U reads the second: W_E W_U = 0, while
    // W_U W_E = [0 0; X 0] is nilpotent but not zero. Its dense float eigenvalues are rounding noise,
    // which /path used to score (-0.337 on data/models/compiled/sort.h5, where /eigen said NaN).
    ModelConfig c = test::small_config(PositionalEmbedding::standard, Normalization::none);
    Model m = test::random_model(c, 5);
    const Eigen::Index half = c.d_model / 2;
    m.W_E.rightCols(c.d_model - half).setZero();
    m.W_U.topRows(half).setZero();
    REQUIRE((m.W_E * m.W_U).cwiseAbs().maxCoeff() == 0.0f);
    const PathExpansionResult r = compute_path_expansion(m, {});
    CHECK(std::isnan(r.direct_copying));
    CHECK(std::isnan(compute_eigen(m).direct_copying));
}

}  // namespace circuits::analyses
