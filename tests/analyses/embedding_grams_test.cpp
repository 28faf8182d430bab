// Tests of the embedding Gram matrices and the small-matrix statistics built on them.
#include "analyses/embedding_grams.hpp"

#include "lib/error.hpp"
#include "tests/test_util.hpp"

namespace circuits::analyses {

TEST_CASE("embedding grams equal the dense products, for any thread count") {
    ModelConfig c = test::small_config(PositionalEmbedding::standard, Normalization::none);
    c.d_vocab = 3000;  // more than one vocabulary block per thread
    c.d_vocab_out = 3000;
    const Model m = test::random_model(c, 8);
    for (int threads : {1, 3}) {
        CAPTURE(threads);
        const EmbeddingGrams g = embedding_grams(m, threads);
        REQUIRE(g.same_vocab);
        test::check_near(g.G_E, Matrix(m.W_E.transpose() * m.W_E), test::kFloatTol, "G_E");
        test::check_near(g.G_U, Matrix(m.W_U * m.W_U.transpose()), test::kFloatTol, "G_U");
        test::check_near(g.C, Matrix(m.W_U * m.W_E), test::kFloatTol, "C");
    }
    // One output token renamed: C sums the other tokens only.
    Model other = m;
    other.vocab_out.set(other.vocab_out.size() - 1, "renamed");
    const EmbeddingGrams partial = embedding_grams(other, 1);
    CHECK_FALSE(partial.same_vocab);
    REQUIRE(partial.copying_defined);
    CHECK(partial.shared_tokens == 2999);
    test::check_near(partial.C, Matrix(m.W_U.leftCols(2999) * m.W_E.topRows(2999)), test::kFloatTol, "C shared");
    std::vector<std::string> renamed = other.vocab_out;
    for (auto& s : renamed) s += "'";
    other.vocab_out = renamed;
    CHECK_FALSE(embedding_grams(other, 1).copying_defined);
    CHECK(embedding_grams(other, 1).C.size() == 0);
}

TEST_CASE(
    "regression: one Gram route — the float Gram matrices are the double-accumulated ones rounded, never a second "
    "sum") {
    // The float and double routes used to be separate sums that could disagree in the last bits; now
    // G_E and C are G_E_exact and C_exact rounded, and those are accurate_gram / accurate_product's.
    ModelConfig c = test::small_config(PositionalEmbedding::standard, Normalization::none);
    c.d_vocab = 3000;  // more than one accumulation chunk
    c.d_vocab_out = 3000;
    const Model m = test::random_model(c, 9);
    const EmbeddingGrams g = embedding_grams(m, 1);
    CHECK(g.G_E == Matrix(g.G_E_exact.cast<float>()));
    CHECK(g.C == Matrix(g.C_exact.cast<float>()));
    test::check_near(g.G_E_exact, Eigen::MatrixXd(m.W_E.cast<double>().transpose() * m.W_E.cast<double>()), 1e-6,
                     "G_E_exact");
    test::check_near(g.C_exact, Eigen::MatrixXd(m.W_U.cast<double>() * m.W_E.cast<double>()), 1e-6, "C_exact");
}

TEST_CASE("copying score: +1 for the identity, -1 for its negative, NaN for zero, 0 for a rotation") {
    CHECK(copying_score(Matrix::Identity(4, 4)) == doctest::Approx(1.0));
    CHECK(copying_score(-2.0f * Matrix::Identity(4, 4)) == doctest::Approx(-1.0));
    CHECK(std::isnan(copying_score(Matrix::Zero(3, 3))));
    Matrix rotation(2, 2);
    rotation << 0.0f, -1.0f, 1.0f, 0.0f;  // eigenvalues ±i: trace 0
    CHECK(copying_score(rotation) == doctest::Approx(0.0).epsilon(1e-6));
    CHECK_THROWS_AS(copying_score(Matrix::Zero(2, 3)), Error);
    std::mt19937 rng(2);
    const Matrix A = test::random_matrix(rng, 5, 7), B = test::random_matrix(rng, 7, 5);
    CHECK(trace_of_product(A, B) == doctest::Approx(double((A * B).trace())).epsilon(1e-5));
    CHECK_THROWS_AS(trace_of_product(A, A), Error);
}

}  // namespace circuits::analyses
