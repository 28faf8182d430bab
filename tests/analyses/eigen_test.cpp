// Tests of the eigen pass: planted copying heads, agreement with dense spectra on random models,
// the Spectra path, undefined OV spectra, and the written group's shapes.
#include "analyses/eigen.hpp"

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>

#include "lib/hdf5.hpp"
#include "tests/analyses/hand_built.hpp"
#include "tests/test_util.hpp"

namespace circuits::analyses {
namespace {

constexpr double kRelTol = 1e-5;
constexpr double kCopyTol = 1e-6;  // copying of exactly built heads

// Eigenvalues of a dense matrix by decreasing modulus (as the pass sorts them).
Eigen::VectorXcd dense_eigenvalues(const Matrix& M) {
    Eigen::VectorXcd v = Eigen::EigenSolver<Eigen::MatrixXd>(M.cast<double>()).eigenvalues();
    std::vector<std::complex<double>> s(v.data(), v.data() + v.size());
    std::sort(s.begin(), s.end(), [](auto a, auto b) {
        if (std::abs(a) != std::abs(b)) return std::abs(a) > std::abs(b);
        if (a.real() != b.real()) return a.real() > b.real();
        return a.imag() > b.imag();
    });
    for (Eigen::Index i = 0; i < v.size(); ++i) v[i] = s[size_t(i)];
    return v;
}

double copying(const Eigen::VectorXcd& v) {
    double num = 0, den = 0;
    for (Eigen::Index i = 0; i < v.size(); ++i) {
        num += v[i].real();
        den += std::abs(v[i]);
    }
    return num / den;
}

TEST_CASE("eigen: identity OV copies (+1), negated OV suppresses (-1), a cyclic shift scores 0") {
    const Model m = test::copying_heads_model(8);
    const EigenResult r = compute_eigen(m, {});
    REQUIRE(r.ov_defined);
    CHECK(r.ov_copying.at({0, 0}) == doctest::Approx(1.0).epsilon(kCopyTol));
    CHECK(r.ov_copying.at({0, 1}) == doctest::Approx(-1.0).epsilon(kCopyTol));
    CHECK(std::abs(r.ov_copying.at({0, 2})) < kCopyTol);
    CHECK(r.qk_copying.at({0, 0}) == doctest::Approx(1.0).epsilon(kCopyTol));
    CHECK(r.qk_copying.at({0, 1}) == doctest::Approx(-1.0).epsilon(kCopyTol));
    CHECK(std::isnan(r.qk_copying.at({0, 2})));  // QK = 0: no eigenvalue weight
    // The shift's eigenvalues are the 8th roots of unity: all of modulus 1.
    for (int i = 0; i < 8; ++i) {
        const std::complex<double> z(r.ov_eigenvalues_re.at({0, 2, i}), r.ov_eigenvalues_im.at({0, 2, i}));
        CHECK(std::abs(z) == doctest::Approx(1.0).epsilon(kCopyTol));
    }
    for (int l = 0; l < 1; ++l)
        for (int h = 0; h < 3; ++h) CHECK(r.ov_converged.at({l, h}) == 1);
    CHECK(r.direct_copying == doctest::Approx(1.0).epsilon(kCopyTol));  // W_E W_U = I
}

TEST_CASE("eigen: eigenvalues through the d_head cores match the dense d_vocab circuits") {
    ModelConfig c = test::small_config(PositionalEmbedding::standard, Normalization::none);
    c.d_vocab_out = c.d_vocab;
    c.attn_scale = 3.0;
    const Model m = test::random_model(c, 31);
    const EigenResult r = compute_eigen(m, {});
    REQUIRE(r.ov_defined);
    REQUIRE(r.ov_eigenvalues_re.dims == std::vector<std::uint64_t>{2, 3, 4});
    for (int l = 0; l < c.n_layers; ++l)
        for (int h = 0; h < c.n_heads; ++h) {
            CAPTURE(l);
            CAPTURE(h);
            const auto& a = m.blocks[size_t(l)].attn;
            const Matrix ov = m.W_E * a.W_V[size_t(h)] * a.W_O[size_t(h)] * m.W_U;  // [d_vocab, d_vocab]
            const Matrix qk = (m.W_E * a.W_Q[size_t(h)]) * (m.W_E * a.W_K[size_t(h)]).transpose() / 3.0f;
            const struct {
                const Matrix& dense;
                const Array<float>& re;
                const Array<float>& im;
                float copy;
            } cases[] = {{ov, r.ov_eigenvalues_re, r.ov_eigenvalues_im, r.ov_copying.at({l, h})},
                         {qk, r.qk_eigenvalues_re, r.qk_eigenvalues_im, r.qk_copying.at({l, h})}};
            for (const auto& cs : cases) {
                const Eigen::VectorXcd want = dense_eigenvalues(cs.dense);  // d_head nonzero, the rest ~0
                const double scale = std::abs(want[0]);
                for (int i = 0; i < c.d_head; ++i) {
                    const std::complex<double> got(cs.re.at({l, h, i}), cs.im.at({l, h, i}));
                    CHECK(std::abs(got - want[i]) <= kRelTol * scale);
                }
                CHECK(cs.copy == doctest::Approx(copying(want)).epsilon(kRelTol));
            }
        }
    // The direct path: W_E W_U [11, 11] has d_model = 12 > 11 eigenvalues of its core; all computed.
    const Eigen::VectorXcd want = dense_eigenvalues(m.W_E * m.W_U);
    CHECK_FALSE(r.direct_iterative);
    REQUIRE(r.direct_eigenvalues_re.dims == std::vector<std::uint64_t>{11});
    for (int i = 0; i < 11; ++i) {
        const std::complex<double> got(r.direct_eigenvalues_re.data[size_t(i)],
                                       r.direct_eigenvalues_im.data[size_t(i)]);
        CHECK(std::abs(got - want[i]) <= kRelTol * std::abs(want[0]));
    }
    CHECK(r.direct_copying == doctest::Approx(copying(want)).epsilon(kRelTol));
}

TEST_CASE("eigen: cores above dense_max_dim go through Spectra and find the top eigenvalues") {
    ModelConfig c = test::small_config(PositionalEmbedding::none, Normalization::none);
    c.d_head = 10;
    c.d_model = 16;
    c.d_vocab = c.d_vocab_out = 40;
    const Model m = test::random_model(c, 32);
    EigenPassOptions o;
    o.solver.dense_max_dim = 6;
    o.solver.n_top = 3;
    const EigenResult r = compute_eigen(m, o);
    CHECK(r.head_cores_iterative);
    CHECK(r.direct_iterative);
    REQUIRE(r.direct_eigenvalues_re.dims == std::vector<std::uint64_t>{3});
    const EigenResult exact = compute_eigen(m, {});
    for (int l = 0; l < c.n_layers; ++l)
        for (int h = 0; h < c.n_heads; ++h) {
            if (r.ov_converged.at({l, h}) != 1) continue;  // a status, reported in the file
            for (int i = 0; i < 3; ++i) {
                const double scale =
                    std::hypot(exact.ov_eigenvalues_re.at({l, h, 0}), exact.ov_eigenvalues_im.at({l, h, 0}));
                CHECK(std::abs(r.ov_eigenvalues_re.at({l, h, i}) - exact.ov_eigenvalues_re.at({l, h, i})) <=
                      1e-4 * scale);
                CHECK(std::abs(std::abs(r.ov_eigenvalues_im.at({l, h, i})) -
                               std::abs(exact.ov_eigenvalues_im.at({l, h, i}))) <= 1e-4 * scale);
            }
            for (int i = 3; i < c.d_head; ++i) CHECK(std::isnan(r.ov_eigenvalues_re.at({l, h, i})));
        }
}

TEST_CASE("eigen: OV spectra over the tokens both vocabularies share, matched by string") {
    // vocab "BOS a b c d", vocab_out "d c b a" (the compiled-program convention, reordered): the OV
    // circuit restricted to the shared tokens, rows and columns in the same token order, is what the
    // pass's spectrum and copying score are of.
    ModelConfig c = test::small_config(PositionalEmbedding::none, Normalization::none);
    c.d_vocab = 5;
    c.d_vocab_out = 4;
    Model m = test::random_model(c, 33);
    m.vocab = {"BOS", "a", "b", "c", "d"};
    m.vocab_out = {"d", "c", "b", "a"};
    const std::vector<int> in = {1, 2, 3, 4}, out = {3, 2, 1, 0};
    const EigenResult r = compute_eigen(m, {});
    REQUIRE(r.ov_defined);
    CHECK(r.ov_shared_tokens == 4);
    CHECK_FALSE(r.ov_all_tokens);
    Matrix E(4, c.d_model), U(c.d_model, 4);
    for (int k = 0; k < 4; ++k) {
        E.row(k) = m.W_E.row(in[size_t(k)]);
        U.col(k) = m.W_U.col(out[size_t(k)]);
    }
    for (int l = 0; l < c.n_layers; ++l)
        for (int h = 0; h < c.n_heads; ++h) {
            const auto& a = m.blocks[size_t(l)].attn;
            const Matrix ov = E * a.W_V[size_t(h)] * a.W_O[size_t(h)] * U;  // [4, 4]
            CHECK(r.ov_copying.at({l, h}) == doctest::Approx(copying(dense_eigenvalues(ov))).epsilon(kRelTol));
        }
    CHECK(r.direct_copying == doctest::Approx(copying(dense_eigenvalues(E * U))).epsilon(kRelTol));
    CHECK_FALSE(std::isnan(r.qk_copying.at({1, 2})));
}

TEST_CASE("eigen: no shared token makes the OV spectrum undefined, QK still computed") {
    ModelConfig c = test::small_config(PositionalEmbedding::none, Normalization::none);
    Model m = test::random_model(c, 34);
    std::vector<std::string> renamed = m.vocab_out;
    for (auto& s : renamed) s = "out_" + s;
    m.vocab_out = renamed;
    const EigenResult r = compute_eigen(m, {});
    CHECK_FALSE(r.ov_defined);
    CHECK(r.ov_undefined_reason.find("no output token") != std::string::npos);
    CHECK(std::isnan(r.ov_copying.at({0, 0})));
    CHECK(std::isnan(r.ov_eigenvalues_re.at({1, 2, 0})));
    CHECK(std::isnan(r.direct_copying));
    CHECK_FALSE(std::isnan(r.qk_copying.at({1, 2})));
}

TEST_CASE("eigen: the written group reads back with the documented names and shapes") {
    ModelConfig c = test::small_config(PositionalEmbedding::none, Normalization::none);
    c.d_vocab_out = c.d_vocab;
    const EigenResult r = compute_eigen(test::random_model(c, 35), {});
    test::TempDir dir;
    {
        H5Writer w(dir.file("results.h5"));
        write(w, r);
        w.close();
    }
    H5Reader in(dir.file("results.h5"));
    using D = std::vector<std::uint64_t>;
    for (const char* name : {"ov_eigenvalues_re", "ov_eigenvalues_im", "qk_eigenvalues_re", "qk_eigenvalues_im"})
        CHECK(in.dims(std::string("eigen/") + name) == D{2, 3, 4});
    for (const char* name : {"ov_copying", "qk_copying", "ov_converged", "qk_converged"})
        CHECK(in.dims(std::string("eigen/") + name) == D{2, 3});
    CHECK(in.dims("eigen/direct_eigenvalues_re") == D{11});
    CHECK(in.attr_int("eigen", "ov_defined") == 1);
    CHECK(in.attr_double("eigen", "direct_copying") == doctest::Approx(r.direct_copying));
    CHECK(in.read_float("eigen/ov_copying").data == r.ov_copying.data);
}

}  // namespace
}  // namespace circuits::analyses
