// The forward pass against a naive double-precision loop, for every positional and normalisation
// type, with and without MLPs, and with each hook.
#include "lib/error.hpp"
#include "lib/forward.hpp"
#include "tests/test_util.hpp"

#include <cmath>

using namespace circuits;
using circuits::test::check_near;

namespace {

using MatD = Eigen::MatrixXd;

// Straightforward per-position loops in double: the reference the optimised pass must match.
struct Naive {
    const Model& m;
    const ForwardHooks& hooks;

    std::vector<double> norm(const std::vector<double>& x, const LayerNormWeights& ln) const {
        if (m.cfg.normalization_type == Normalization::none) return x;
        const double n = static_cast<double>(x.size());
        double mean = 0, var = 0;
        for (double v : x) mean += v;
        mean /= n;
        for (double v : x) var += (v - mean) * (v - mean);
        var /= n;
        std::vector<double> y(x.size());
        for (size_t d = 0; d < x.size(); ++d) {
            y[d] = (x[d] - mean) / std::sqrt(var + m.cfg.ln_eps);
            if (m.cfg.normalization_type == Normalization::LN) y[d] = y[d] * ln.w(long(d)) + ln.b(long(d));
        }
        return y;
    }

    MatD run(const std::vector<int>& tokens, std::vector<std::vector<MatD>>& patterns) const {
        const auto& c = m.cfg;
        const size_t T = tokens.size(), D = size_t(c.d_model), dh = size_t(c.d_head);
        std::vector<std::vector<double>> resid(T, std::vector<double>(D));
        for (size_t t = 0; t < T; ++t)
            for (size_t d = 0; d < D; ++d)
                resid[t][d] = m.W_E(tokens[t], long(d)) +
                              (c.positional_embedding_type == PositionalEmbedding::standard ? m.W_pos(long(t), long(d)) : 0.0);
        patterns.assign(size_t(c.n_layers), {});
        for (int l = 0; l < c.n_layers; ++l) {
            const auto& b = m.blocks[size_t(l)];
            std::vector<std::vector<double>> xn(T), qk_in(T), v_in(T);
            for (size_t t = 0; t < T; ++t) {
                xn[t] = norm(resid[t], b.ln1);
                qk_in[t] = xn[t];
                if (c.positional_embedding_type == PositionalEmbedding::shortformer)
                    for (size_t d = 0; d < D; ++d) qk_in[t][d] += m.W_pos(long(t), long(d));
                v_in[t] = xn[t];
                if (size_t(l) < hooks.value_inputs.size() && hooks.value_inputs[size_t(l)].size()) {
                    std::vector<double> r(D);
                    for (size_t d = 0; d < D; ++d) r[d] = hooks.value_inputs[size_t(l)](long(t), long(d));
                    v_in[t] = norm(r, b.ln1);
                }
            }
            std::vector<std::vector<double>> add(T, std::vector<double>(D, 0.0));
            for (size_t t = 0; t < T; ++t)
                for (size_t d = 0; d < D; ++d) add[t][d] = b.attn.b_O(long(d));
            for (int h = 0; h < c.n_heads; ++h) {
                const auto uh = size_t(h);
                auto proj = [&](const std::vector<std::vector<double>>& in, const Matrix& W, const RowVector& bias) {
                    std::vector<std::vector<double>> out(T, std::vector<double>(dh));
                    for (size_t t = 0; t < T; ++t)
                        for (size_t e = 0; e < dh; ++e) {
                            double s = bias(long(e));
                            for (size_t d = 0; d < D; ++d) s += in[t][d] * W(long(d), long(e));
                            out[t][e] = s;
                        }
                    return out;
                };
                const auto q = proj(qk_in, b.attn.W_Q[uh], b.attn.b_Q[uh]);
                const auto k = proj(qk_in, b.attn.W_K[uh], b.attn.b_K[uh]);
                const auto v = proj(v_in, b.attn.W_V[uh], b.attn.b_V[uh]);
                MatD A = MatD::Zero(long(T), long(T));
                const bool frozen = size_t(l) < hooks.frozen_patterns.size() && !hooks.frozen_patterns[size_t(l)].empty() &&
                                    hooks.frozen_patterns[size_t(l)][uh].size();
                for (size_t i = 0; i < T; ++i) {
                    if (frozen) {
                        for (size_t j = 0; j < T; ++j) A(long(i), long(j)) = hooks.frozen_patterns[size_t(l)][uh](long(i), long(j));
                        continue;
                    }
                    const size_t n = c.causal ? i + 1 : T;
                    double mx = -1e300;
                    std::vector<double> s(n);
                    for (size_t j = 0; j < n; ++j) {
                        double dot = 0;
                        for (size_t e = 0; e < dh; ++e) dot += q[i][e] * k[j][e];
                        s[j] = dot / c.effective_attn_scale();
                        mx = std::max(mx, s[j]);
                    }
                    double sum = 0;
                    for (size_t j = 0; j < n; ++j) sum += std::exp(s[j] - mx);
                    for (size_t j = 0; j < n; ++j) A(long(i), long(j)) = std::exp(s[j] - mx) / sum;
                }
                patterns[size_t(l)].push_back(A);
                const bool ablated = std::find(hooks.ablated_heads.begin(), hooks.ablated_heads.end(),
                                               std::make_pair(l, h)) != hooks.ablated_heads.end();
                if (ablated) continue;
                for (size_t i = 0; i < T; ++i)
                    for (size_t e = 0; e < dh; ++e) {
                        double z = 0;
                        for (size_t j = 0; j < T; ++j) z += A(long(i), long(j)) * v[j][e];
                        for (size_t d = 0; d < D; ++d) add[i][d] += z * b.attn.W_O[uh](long(e), long(d));
                    }
            }
            for (size_t t = 0; t < T; ++t)
                for (size_t d = 0; d < D; ++d) resid[t][d] += add[t][d];
            if (c.has_mlp()) {
                for (size_t t = 0; t < T; ++t) {
                    const auto x2 = norm(resid[t], b.ln2);
                    std::vector<double> hidden(size_t(c.d_mlp));
                    for (int u = 0; u < c.d_mlp; ++u) {
                        double s = b.mlp.b_in(u);
                        for (size_t d = 0; d < D; ++d) s += x2[d] * b.mlp.W_in(long(d), u);
                        hidden[size_t(u)] =
                            c.act_fn == ActFn::gelu ? 0.5 * s * (1 + std::erf(s / std::sqrt(2.0))) : std::max(0.0, s);
                    }
                    for (size_t d = 0; d < D; ++d) {
                        double s = b.mlp.b_out(long(d));
                        for (int u = 0; u < c.d_mlp; ++u) s += hidden[size_t(u)] * b.mlp.W_out(u, long(d));
                        resid[t][d] += s;
                    }
                }
            }
        }
        MatD logits(long(T), c.d_vocab_out);
        for (size_t t = 0; t < T; ++t) {
            const auto xf = norm(resid[t], m.ln_final);
            for (int o = 0; o < c.d_vocab_out; ++o) {
                double s = m.b_U(o);
                for (size_t d = 0; d < D; ++d) s += xf[d] * m.W_U(long(d), o);
                logits(long(t), o) = s;
            }
        }
        return logits;
    }
};

constexpr double kForwardTol = 1e-5;  // relative to the largest entry (float32 pass vs double loop)

const std::vector<int> kTokens{3, 0, 10, 7, 7, 2, 9, 1};

void check_against_naive(const Model& m, const ForwardHooks& hooks = {}) {
    const ForwardResult got = forward(m, kTokens, hooks);
    std::vector<std::vector<MatD>> want_patterns;
    const MatD want = Naive{m, hooks}.run(kTokens, want_patterns);
    check_near(got.logits.cast<double>(), want, kForwardTol, "logits");
    for (int l = 0; l < m.cfg.n_layers; ++l)
        for (int h = 0; h < m.cfg.n_heads; ++h)
            check_near(got.patterns[size_t(l)][size_t(h)].cast<double>(), want_patterns[size_t(l)][size_t(h)], kForwardTol,
                       "pattern L" + std::to_string(l) + "H" + std::to_string(h));
}

}  // namespace

TEST_CASE("forward matches the naive loop for every positional and normalisation type") {
    unsigned seed = 1;
    for (auto pos : {PositionalEmbedding::standard, PositionalEmbedding::shortformer, PositionalEmbedding::none})
        for (auto norm : {Normalization::none, Normalization::LN, Normalization::LNPre})
            for (int d_mlp : {0, 10})
                for (bool causal : {true, false}) {
                    CAPTURE(to_string(pos));
                    CAPTURE(to_string(norm));
                    CAPTURE(d_mlp);
                    CAPTURE(causal);
                    ModelConfig c = test::small_config(pos, norm, d_mlp);
                    c.causal = causal;
                    check_against_naive(test::random_model(c, seed++));
                }
}

TEST_CASE("forward with gelu MLPs and a custom attn_scale matches the naive loop") {
    ModelConfig c = test::small_config(PositionalEmbedding::standard, Normalization::LN, 6);
    c.act_fn = ActFn::gelu;
    c.attn_scale = 3.7;
    check_against_naive(test::random_model(c, 99));
}

TEST_CASE("forward records the residual stream after every sub-layer") {
    const Model m = test::random_model(test::small_config(PositionalEmbedding::standard, Normalization::none, 5), 7);
    const ForwardResult r = forward(m, kTokens, {}, {.keep_head_outputs = true});
    REQUIRE(r.resid_pre.size() == 3);
    REQUIRE(r.resid_mid.size() == 2);
    for (int l = 0; l < 2; ++l) {
        // resid_mid = resid_pre + sum of head outputs + b_O
        Matrix sum = r.resid_pre[size_t(l)];
        for (const auto& o : r.head_out[size_t(l)]) sum += o;
        sum.rowwise() += m.blocks[size_t(l)].attn.b_O;
        check_near(r.resid_mid[size_t(l)], sum, kForwardTol, "resid_mid");
    }
    for (const auto& layer : r.patterns)
        for (const auto& p : layer) check_near(p.rowwise().sum(), Vector::Ones(p.rows()), kForwardTol, "rows sum to 1");
}

TEST_CASE("hooks: ablated heads, frozen patterns and replaced value inputs match the naive loop") {
    for (auto norm : {Normalization::none, Normalization::LN}) {
        const Model m = test::random_model(test::small_config(PositionalEmbedding::standard, norm), 21);
        SUBCASE("ablation") {
            ForwardHooks hooks;
            hooks.ablated_heads = {{0, 1}, {1, 2}};
            check_against_naive(m, hooks);
            const auto plain = forward(m, kTokens);
            const auto ablated = forward(m, kTokens, hooks);
            CHECK((plain.logits - ablated.logits).norm() > 1e-3);  // the hook really does something
        }
        SUBCASE("frozen patterns") {
            ForwardHooks hooks;
            const auto T = long(kTokens.size());
            Matrix uniform = Matrix::Zero(T, T);
            for (long i = 0; i < T; ++i) uniform.row(i).head(i + 1).setConstant(1.0f / float(i + 1));
            hooks.frozen_patterns = {{}, {uniform, Matrix(), uniform}};
            check_against_naive(m, hooks);
            const auto r = forward(m, kTokens, hooks);
            check_near(r.patterns[1][0], uniform, 0.0, "frozen pattern is used");
        }
        SUBCASE("value inputs") {
            std::mt19937 rng(5);
            ForwardHooks hooks;
            hooks.value_inputs = {Matrix(), test::random_matrix(rng, long(kTokens.size()), m.cfg.d_model)};
            check_against_naive(m, hooks);
            // Feeding the real stream back in changes nothing.
            const auto plain = forward(m, kTokens);
            ForwardHooks same;
            same.value_inputs = {plain.resid_pre[0], plain.resid_pre[1]};
            check_near(forward(m, kTokens, same).logits, plain.logits, 1e-6, "same value input");
        }
    }
}

TEST_CASE("forward rejects bad sequences and hooks with a message") {
    const Model m = test::random_model(test::small_config(PositionalEmbedding::standard, Normalization::none), 3);
    CHECK_THROWS_WITH_AS(forward(m, {}), doctest::Contains("empty"), Error);
    CHECK_THROWS_WITH_AS(forward(m, std::vector<int>(10, 1)), doctest::Contains("n_ctx = 9"), Error);
    CHECK_THROWS_WITH_AS(forward(m, {1, 11}), doctest::Contains("token 11 at position 1"), Error);
    ForwardHooks bad;
    bad.frozen_patterns = {{Matrix::Zero(2, 2), Matrix(), Matrix()}};
    CHECK_THROWS_WITH_AS(forward(m, {1, 2, 3}, bad), doctest::Contains("expected [3, 3]"), Error);
    ForwardHooks bad_head;
    bad_head.ablated_heads = {{0, 3}};
    CHECK_THROWS_WITH_AS(forward(m, {1}, bad_head), doctest::Contains("L0H3"), Error);
}

TEST_CASE("forward_batch equals sequence-by-sequence forward") {
    const Model m = test::random_model(test::small_config(PositionalEmbedding::standard, Normalization::LN), 8);
    const std::vector<std::vector<int>> batch{{1, 2, 3}, {4, 5}, {6, 7, 8, 9}, {0}};
    const auto out = forward_batch(m, batch, 2);
    REQUIRE(out.size() == batch.size());
    for (size_t i = 0; i < batch.size(); ++i) check_near(out[i].logits, forward(m, batch[i]).logits, 0.0, "batch");
}
