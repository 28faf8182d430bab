// Gram matrices of W_E and W_U computed once in vocabulary blocks, and the small-matrix statistics
// (traces, copying scores) that the weight-based passes build on them.
#include "analyses/embedding_grams.hpp"

#include <Eigen/Eigenvalues>
#include <cmath>
#include <complex>
#include <limits>

#include "analyses/results.hpp"
#include "lib/error.hpp"
#include "lib/factored_matrix.hpp"

namespace circuits::analyses {

EmbeddingGrams embedding_grams(const Model& model, int threads) {
    const auto& c = model.cfg;
    const Eigen::Index D = c.d_model;
    if (model.W_E.rows() != c.d_vocab || model.W_E.cols() != D)
        throw Error("embedding_grams: W_E is [" + std::to_string(model.W_E.rows()) + ", " +
                    std::to_string(model.W_E.cols()) + "], expected [" + std::to_string(c.d_vocab) + ", " +
                    std::to_string(D) + "]");
    if (model.W_U.rows() != D || model.W_U.cols() != c.d_vocab_out)
        throw Error("embedding_grams: W_U is [" + std::to_string(model.W_U.rows()) + ", " +
                    std::to_string(model.W_U.cols()) + "], expected [" + std::to_string(D) + ", " +
                    std::to_string(c.d_vocab_out) + "]");
    EmbeddingGrams g;
    const SharedTokens shared = shared_vocabulary(model);
    g.same_vocab = shared.identity;
    g.copying_defined = shared.size() > 0;
    g.shared_tokens = shared.size();
    // The one route for the d_vocab-long sums (lib/factored_matrix.hpp): float GEMMs over 1024-token
    // chunks, accumulated in double, so a 50k-token vocabulary keeps ~1e-7 relative error.
    g.G_E_exact = accurate_gram(model.W_E, threads);
    g.G_U = accurate_gram(model.W_U.transpose(), threads).cast<float>();
    if (g.same_vocab) {
        g.C_exact = accurate_product(model.W_U, model.W_E, threads);
    } else if (g.copying_defined) {
        // A strict subset (or a reordering) of the tokens: the matched rows and columns.
        const auto [E, U] = shared_embeddings(model, shared);  // [shared, D], [D, shared]
        g.C_exact = accurate_product(U, E, threads);
    }
    g.G_E = g.G_E_exact.cast<float>();
    g.C = g.C_exact.cast<float>();
    return g;
}

void check_grams(const EmbeddingGrams& g, const ModelConfig& c, const std::string& pass) {
    const auto square = [&](const auto& m) { return m.rows() == c.d_model && m.cols() == c.d_model; };
    if (!square(g.G_E) || !square(g.G_U) || !square(g.G_E_exact))
        throw Error(pass + ": embedding Gram matrices are [" + std::to_string(g.G_E.rows()) + ", " +
                    std::to_string(g.G_E.cols()) + "], expected [" + std::to_string(c.d_model) + ", " +
                    std::to_string(c.d_model) + "]");
}

double trace_of_product(const Matrix& A, const Matrix& B) {
    if (A.rows() != B.cols() || A.cols() != B.rows())
        throw Error("trace_of_product: A is [" + std::to_string(A.rows()) + ", " + std::to_string(A.cols()) +
                    "], B is [" + std::to_string(B.rows()) + ", " + std::to_string(B.cols()) + "], expected B [" +
                    std::to_string(A.cols()) + ", " + std::to_string(A.rows()) + "]");
    // trace(AB) = sum_ij A_ij B_ji
    double s = 0.0;
    for (Eigen::Index j = 0; j < A.cols(); ++j)
        for (Eigen::Index i = 0; i < A.rows(); ++i) s += double(A(i, j)) * double(B(j, i));
    return s;
}

double copying_score(const Matrix& core) {
    if (core.rows() != core.cols())
        throw Error("copying_score: core is [" + std::to_string(core.rows()) + ", " + std::to_string(core.cols()) +
                    "], expected a square matrix");
    if (core.size() == 0 || core.cwiseAbs().maxCoeff() == 0.0f) return std::numeric_limits<double>::quiet_NaN();
    // Single precision: the score is a ratio of sums over every eigenvalue, well within float accuracy,
    // and the real Schur form of the [d_head, d_head] cores is the dominant cost of the weight passes.
    Eigen::EigenSolver<Matrix> solver(core, /*computeEigenvectors=*/false);
    if (solver.info() != Eigen::Success) return std::numeric_limits<double>::quiet_NaN();
    return copying_score_of_eigenvalues(Eigen::VectorXcd(solver.eigenvalues().cast<std::complex<double>>()));
}

double copying_score_of_eigenvalues(const Eigen::VectorXcd& eigenvalues) {
    double sum = 0.0, sum_abs = 0.0;
    for (Eigen::Index i = 0; i < eigenvalues.size(); ++i) {
        sum += eigenvalues[i].real();
        sum_abs += std::abs(eigenvalues[i]);
    }
    return sum_abs > 0.0 ? sum / sum_abs : std::numeric_limits<double>::quiet_NaN();
}

double norm_from_square(double x) {
    return std::sqrt(std::max(0.0, x));
}

}  // namespace circuits::analyses
