// Tests of the circuits pass: planted copying heads, agreement with dense circuits on random models,
// positional QK, and the written group's shapes.
#include "analyses/circuits.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "lib/error.hpp"
#include "lib/hdf5.hpp"
#include "tests/analyses/hand_built.hpp"
#include "tests/test_util.hpp"

namespace circuits::analyses {
namespace {

constexpr double kRelTol = 1e-5;

std::vector<int> order(const Eigen::RowVectorXf& row) {
    std::vector<int> idx(static_cast<size_t>(row.size()));
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return row[a] > row[b]; });
    return idx;
}

// Checks r's top-k (tokens, values) at [l, h] against the rows of `dense`.
void check_top(const Array<std::int64_t>& tokens, const Array<float>& values, int l, int h, const Matrix& dense,
               const char* what) {
    CAPTURE(what);
    CAPTURE(l);
    CAPTURE(h);
    const auto k = static_cast<int>(tokens.dims[3]);
    const double scale = dense.cwiseAbs().maxCoeff();
    int mismatches = 0;
    for (int i = 0; i < dense.rows(); ++i) {
        const auto want = order(dense.row(i));
        for (int q = 0; q < k; ++q) {
            mismatches += tokens.at({l, h, i, q}) != want[static_cast<size_t>(q)];
            mismatches +=
                !(std::abs(values.at({l, h, i, q}) - dense(i, want[static_cast<size_t>(q)])) <= kRelTol * scale);
        }
    }
    CHECK(mismatches == 0);
}

TEST_CASE("circuits: an identity-OV head copies every token; negated and shifted heads do not") {
    const Model m = test::copying_heads_model(8);
    CircuitsOptions o;
    o.top_k = 3;
    const CircuitsResult r = compute_circuits(m, o);
    REQUIRE(r.diagonal_defined);
    CHECK(r.ov_diag_top1.at({0, 0}) == 1.0f);
    CHECK(r.ov_diag_rank_mean.at({0, 0}) == 0.0f);
    CHECK(r.ov_diag_top1.at({0, 1}) == 0.0f);
    CHECK(r.ov_diag_rank_mean.at({0, 1}) == 7.0f);  // -1 on the diagonal, 0 elsewhere: last
    CHECK(r.ov_diag_top1.at({0, 2}) == 0.0f);
    for (int t = 0; t < 8; ++t) {
        CHECK(r.ov_top_tokens.at({0, 0, t, 0}) == t);
        CHECK(r.ov_top_values.at({0, 0, t, 0}) == 1.0f);
        CHECK(r.ov_top_tokens.at({0, 2, t, 0}) == (t + 1) % 8);  // the shift writes the next token
        // QK = I / sqrt(8): each query's top key and each key's top query is itself.
        CHECK(r.qk_top_tokens.at({0, 0, t, 0}) == t);
        CHECK(r.qk_top_values.at({0, 0, t, 0}) == doctest::Approx(1.0 / std::sqrt(8.0)));
        CHECK(r.skip_trigram_dest_tokens.at({0, 0, t, 0}) == t);
    }
    CHECK(r.qk_diag_top1.at({0, 0}) == 1.0f);
    CHECK(r.qk_diag_top1.at({0, 1}) == 0.0f);
    // No positional embedding: qk_pos is NaN, P = min(n_ctx, 32).
    REQUIRE(r.qk_pos.dims == std::vector<std::uint64_t>{1, 3, 8, 8});
    CHECK(std::all_of(r.qk_pos.data.begin(), r.qk_pos.data.end(), [](float x) { return std::isnan(x); }));
}

// Dense reference circuits of head (l, h).
struct DenseHead {
    Matrix ov, qk, qk_pos;
};
DenseHead dense_head(const Model& m, int l, int h, int P) {
    const auto& a = m.blocks[size_t(l)].attn;
    const double s = m.cfg.effective_attn_scale();
    DenseHead d;
    d.ov = m.W_E * a.W_V[size_t(h)] * a.W_O[size_t(h)] * m.W_U;
    d.qk = (m.W_E * a.W_Q[size_t(h)]) * (m.W_E * a.W_K[size_t(h)]).transpose() / float(s);
    if (m.cfg.has_positions()) {
        const Matrix W_pos = m.W_pos.topRows(P);
        d.qk_pos = (W_pos * a.W_Q[size_t(h)]) * (W_pos * a.W_K[size_t(h)]).transpose() / float(s);
    }
    return d;
}

TEST_CASE("circuits: factored tiles agree with the dense circuits on random models") {
    for (const auto pos_type : {PositionalEmbedding::standard, PositionalEmbedding::shortformer}) {
        CAPTURE(to_string(pos_type));
        ModelConfig c = test::small_config(pos_type, Normalization::none);
        c.d_vocab_out = c.d_vocab;  // square OV: diagonal statistics defined
        c.attn_scale = 1.7;
        const Model m = test::random_model(c, 21);
        CircuitsOptions o;
        o.top_k = 4;
        o.n_positions = 6;
        o.mode = TopKMode::bounded;
        o.threads = 3;
        const CircuitsResult r = compute_circuits(m, o);
        REQUIRE(r.ov_top_tokens.dims == std::vector<std::uint64_t>{2, 3, 11, 4});
        REQUIRE(r.qk_pos.dims == std::vector<std::uint64_t>{2, 3, 6, 6});
        for (int l = 0; l < c.n_layers; ++l)
            for (int h = 0; h < c.n_heads; ++h) {
                const DenseHead d = dense_head(m, l, h, 6);
                check_top(r.ov_top_tokens, r.ov_top_values, l, h, d.ov, "ov");
                check_top(r.qk_top_tokens, r.qk_top_values, l, h, d.qk, "qk");
                check_top(r.skip_trigram_dest_tokens, r.skip_trigram_dest_values, l, h, d.qk.transpose(),
                          "skip-trigram destinations");
                // Diagonal statistics by brute force.
                double top1 = 0, rank = 0;
                for (int t = 0; t < c.d_vocab; ++t) {
                    const auto ord = order(d.ov.row(t));
                    top1 += ord[0] == t;
                    rank += double(std::find(ord.begin(), ord.end(), t) - ord.begin());
                }
                CHECK(r.ov_diag_top1.at({l, h}) == doctest::Approx(top1 / c.d_vocab));
                CHECK(r.ov_diag_rank_mean.at({l, h}) == doctest::Approx(rank / c.d_vocab));
                Matrix pos(6, 6);
                for (int i = 0; i < 6; ++i)
                    for (int j = 0; j < 6; ++j) pos(i, j) = r.qk_pos.at({l, h, i, j});
                test::check_near(pos, d.qk_pos, kRelTol, "qk_pos");
            }
    }
}

TEST_CASE("circuits: a different output vocabulary leaves the OV diagonal NaN but keeps top tokens") {
    const Model m = test::random_model(test::small_config(PositionalEmbedding::none, Normalization::none), 22);
    CircuitsOptions o;
    o.top_k = 10;  // > d_vocab_out = 7: OV keeps 7, QK keeps 10
    const CircuitsResult r = compute_circuits(m, o);
    CHECK_FALSE(r.diagonal_defined);
    CHECK(std::isnan(r.ov_diag_top1.at({1, 2})));
    CHECK(r.ov_top_tokens.dims[3] == 7);
    CHECK(r.qk_top_tokens.dims[3] == 10);
    const DenseHead d = dense_head(m, 1, 2, 0);
    check_top(r.ov_top_tokens, r.ov_top_values, 1, 2, d.ov, "ov");
    CHECK_FALSE(std::isnan(r.qk_diag_top1.at({1, 2})));
    o.n_positions = 100;  // > n_ctx
    CHECK_THROWS_AS(compute_circuits(m, o), Error);
}

TEST_CASE("circuits: the written group reads back with the documented names and shapes") {
    const Model m = test::random_model(test::small_config(PositionalEmbedding::standard, Normalization::none), 23);
    const CircuitsResult r = compute_circuits(m, {});
    test::TempDir dir;
    {
        H5Writer w(dir.file("results.h5"));
        write(w, r);
        w.close();
    }
    H5Reader in(dir.file("results.h5"));
    using D = std::vector<std::uint64_t>;
    CHECK(in.dims("circuits/ov_top_tokens") == D{2, 3, 11, 7});
    CHECK(in.dims("circuits/ov_top_values") == D{2, 3, 11, 7});
    CHECK(in.dims("circuits/qk_top_tokens") == D{2, 3, 11, 10});
    CHECK(in.dims("circuits/qk_top_values") == D{2, 3, 11, 10});
    CHECK(in.dims("circuits/skip_trigram_dest_tokens") == D{2, 3, 11, 10});
    CHECK(in.dims("circuits/skip_trigram_dest_values") == D{2, 3, 11, 10});
    CHECK(in.dims("circuits/ov_diag_top1") == D{2, 3});
    CHECK(in.dims("circuits/ov_diag_rank_mean") == D{2, 3});
    CHECK(in.dims("circuits/qk_diag_top1") == D{2, 3});
    CHECK(in.dims("circuits/qk_diag_rank_mean") == D{2, 3});
    CHECK(in.dims("circuits/qk_pos") == D{2, 3, 9, 9});  // P = min(n_ctx = 9, 32)
    CHECK(in.attr_int("circuits", "top_k") == 10);
    CHECK(in.attr_int("circuits", "n_positions") == 9);
    CHECK(in.attr_double("circuits", "attn_scale") == doctest::Approx(2.0));
    CHECK(in.has_attribute("circuits", "qk_pos_terms"));
    const auto pos = in.read_float("circuits/qk_pos");
    CHECK(pos.data == r.qk_pos.data);
    const auto diag = in.read_float("circuits/ov_diag_top1");
    CHECK(std::all_of(diag.data.begin(), diag.data.end(), [](float x) { return std::isnan(x); }));
}

}  // namespace
}  // namespace circuits::analyses
