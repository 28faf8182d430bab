// Tests of the bigram pass: a zero-layer model's known table, a random model against the dense
// product, and the written group's shapes.
#include "analyses/bigram.hpp"

#include <algorithm>
#include <numeric>

#include "lib/error.hpp"
#include "lib/hdf5.hpp"
#include "tests/test_util.hpp"

namespace circuits::analyses {
namespace {

constexpr double kRelTol = 1e-5;

// Column order of a row by decreasing value, ties by smaller index.
std::vector<int> order(const Eigen::RowVectorXf& row) {
    std::vector<int> idx(static_cast<size_t>(row.size()));
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return row[a] > row[b]; });
    return idx;
}

TEST_CASE("bigram: a zero-layer model with W_E W_U a known table returns that table's top-k") {
    ModelConfig c;
    c.n_layers = 0;
    c.n_heads = 1;
    c.d_model = 4;
    c.d_head = 1;
    c.d_vocab = 4;
    c.d_vocab_out = 5;
    c.n_ctx = 4;
    c.positional_embedding_type = PositionalEmbedding::standard;
    Model m = Model::zeros(c);
    m.W_E = Matrix::Identity(4, 4);
    // W_E W_U = W_U: the bigram table, distinct values per row.
    m.W_U << 0.1f, 3.0f, -1.0f, 2.0f, 0.5f,  //
        4.0f, -2.0f, 1.0f, 0.0f, 3.5f,       //
        -1.0f, -0.5f, -3.0f, 0.25f, -2.0f,   //
        1.0f, 1.5f, 2.5f, 0.75f, -4.0f;
    m.W_pos.setConstant(7.0f);  // positions are not part of the direct path
    m.b_U << 0.0f, 0.0f, 0.0f, 0.0f, 10.0f;

    BigramOptions o;
    o.top_k = 3;
    o.include_b_U = false;
    const BigramResult r = compute_bigram(m, o);
    REQUIRE(r.top_k == 3);
    REQUIRE(r.top_tokens.dims == std::vector<std::uint64_t>{4, 3});
    const std::int64_t want[4][3] = {{1, 3, 4}, {0, 4, 2}, {3, 1, 0}, {2, 1, 0}};
    for (int t = 0; t < 4; ++t)
        for (int q = 0; q < 3; ++q) {
            CAPTURE(t);
            CAPTURE(q);
            CHECK(r.top_tokens.at({t, q}) == want[t][q]);
            CHECK(r.top_logits.at({t, q}) == m.W_U(t, want[t][q]));
        }

    // With b_U, token 4 (+10) tops every row.
    o.include_b_U = true;
    const BigramResult rb = compute_bigram(m, o);
    for (int t = 0; t < 4; ++t) {
        CHECK(rb.top_tokens.at({t, 0}) == 4);
        CHECK(rb.top_logits.at({t, 0}) == doctest::Approx(m.W_U(t, 4) + 10.0f));
    }
    // k beyond d_vocab_out keeps every token.
    o.top_k = 9;
    CHECK(compute_bigram(m, o).top_k == 5);
    o.top_k = 0;
    CHECK_THROWS_AS(compute_bigram(m, o), Error);
}

TEST_CASE("bigram: a random model's top-k agrees with sorting the dense W_E W_U + b_U") {
    const Model m = test::random_model(test::small_config(PositionalEmbedding::standard, Normalization::none), 3);
    BigramOptions o;
    o.top_k = 4;
    o.mode = TopKMode::bounded;
    o.threads = 2;
    const BigramResult r = compute_bigram(m, o);
    const Matrix dense = (m.W_E * m.W_U).rowwise() + m.b_U;  // [d_vocab, d_vocab_out]
    const double scale = dense.cwiseAbs().maxCoeff();
    for (int t = 0; t < m.cfg.d_vocab; ++t) {
        const auto want = order(dense.row(t));
        for (int q = 0; q < 4; ++q) {
            CHECK(r.top_tokens.at({t, q}) == want[static_cast<size_t>(q)]);
            CHECK(std::abs(r.top_logits.at({t, q}) - dense(t, want[static_cast<size_t>(q)])) <= kRelTol * scale);
        }
    }
}

TEST_CASE("bigram: the written group reads back with the documented names and shapes") {
    const Model m = test::random_model(test::small_config(PositionalEmbedding::none, Normalization::none), 4);
    const BigramResult r = compute_bigram(m, {});
    test::TempDir dir;
    {
        H5Writer w(dir.file("results.h5"));
        write(w, r);
        w.close();
    }
    H5Reader in(dir.file("results.h5"));
    const std::uint64_t k = 7;  // min(10, d_vocab_out = 7)
    CHECK(in.dims("bigram/top_tokens") == std::vector<std::uint64_t>{11, k});
    CHECK(in.dims("bigram/top_logits") == std::vector<std::uint64_t>{11, k});
    CHECK(in.attr_int("bigram", "top_k") == 7);
    CHECK(in.attr_int("bigram", "includes_b_U") == 1);
    const auto tokens = in.read_int("bigram/top_tokens");
    CHECK(tokens.data == r.top_tokens.data);
}

}  // namespace
}  // namespace circuits::analyses
