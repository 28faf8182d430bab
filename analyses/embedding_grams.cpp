// Gram matrices of W_E and W_U computed once in vocabulary blocks, and the small-matrix statistics
// (traces, copying scores) that the weight-based passes build on them.
#include "analyses/embedding_grams.hpp"

#include "analyses/results.hpp"
#include "lib/error.hpp"
#include "lib/parallel.hpp"

#include <Eigen/Eigenvalues>

#include <cmath>
#include <complex>
#include <limits>

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
    const SharedVocabulary shared = shared_vocabulary(model);
    g.same_vocab = shared.identity;
    g.copying_defined = shared.size() > 0;
    g.shared_tokens = shared.size();

    // Each thread sums its own contiguous vocabulary range in blocks small enough to stay in cache;
    // the partial sums are added at the end. SYRK (rankUpdate) fills the lower triangle only.
    const int max_rows = std::max(c.d_vocab, c.d_vocab_out);
    const int t = std::max(1, std::min(resolve_threads(threads), max_rows / 1024 + 1));
    std::vector<Matrix> part_E(static_cast<size_t>(t), Matrix::Zero(D, D));
    std::vector<Matrix> part_U(static_cast<size_t>(t), Matrix::Zero(D, D));
    std::vector<Matrix> part_C(static_cast<size_t>(t), g.same_vocab ? Matrix::Zero(D, D) : Matrix());
    constexpr Eigen::Index kBlock = 2048;
    parallel_for(t, t, [&](int, std::int64_t task) {
        const auto k = static_cast<int>(task);
        const auto uk = static_cast<size_t>(k);
        auto range = [&](Eigen::Index n) {
            return std::make_pair(n * k / t, n * (k + 1) / t);
        };
        const auto [e0, e1] = range(c.d_vocab);
        for (Eigen::Index r = e0; r < e1; r += kBlock) {
            const Eigen::Index n = std::min(kBlock, e1 - r);
            const Matrix block = model.W_E.middleRows(r, n).transpose();  // [D, n]
            part_E[uk].selfadjointView<Eigen::Lower>().rankUpdate(block);
            if (g.same_vocab) part_C[uk].noalias() += model.W_U.middleCols(r, n) * block.transpose();
        }
        const auto [u0, u1] = range(c.d_vocab_out);
        for (Eigen::Index r = u0; r < u1; r += kBlock) {
            const Eigen::Index n = std::min(kBlock, u1 - r);
            part_U[uk].selfadjointView<Eigen::Lower>().rankUpdate(model.W_U.middleCols(r, n));
        }
    });
    g.G_E = Matrix::Zero(D, D);
    g.G_U = Matrix::Zero(D, D);
    if (g.same_vocab) g.C = Matrix::Zero(D, D);
    for (size_t k = 0; k < part_E.size(); ++k) {
        g.G_E += part_E[k];
        g.G_U += part_U[k];
        if (g.same_vocab) g.C += part_C[k];
    }
    if (g.copying_defined && !g.same_vocab) {
        // A strict subset (or a reordering) of the tokens: gather the matched rows and columns.
        const auto [E, U] = shared_embeddings(model, shared);  // [shared, D], [D, shared]
        g.C.noalias() = U * E;
    }
    // Mirror the lower triangles into full symmetric matrices.
    g.G_E = g.G_E.selfadjointView<Eigen::Lower>();
    g.G_U = g.G_U.selfadjointView<Eigen::Lower>();
    return g;
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

double norm_from_square(double x) { return std::sqrt(std::max(0.0, x)); }

}  // namespace circuits::analyses
