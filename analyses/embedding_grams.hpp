// The [d_model, d_model] Gram matrices of the embedding and unembedding, through which every norm,
// trace and eigenvalue of a factored full-vocabulary circuit reduces to small matrices.
#pragma once

#include <string>

#include "lib/model.hpp"

namespace circuits::analyses {

// With these, a token-space circuit A B^T (A, B [d_vocab, k] products of W_E with small factors) has
// ||A B^T||_F^2 = trace((A^T A)(B^T B)) and A^T A = F^T G_E F when A = W_E F: the d_vocab dimension
// is summed once here, never again per head.
struct EmbeddingGrams {
    Matrix G_E;  // [d_model, d_model] W_E^T W_E
    Matrix G_U;  // [d_model, d_model] W_U W_U^T
    // [d_model, d_model] W_U W_E over the tokens shared by the two vocabularies (matched by string,
    // see shared_vocabulary): eig(W_E' F W_U') = eig(F (W_U' W_E')) ∪ {0}, where W_E' holds the
    // shared input rows and W_U' the matching output columns. Empty when no token is shared, the
    // only case in which copying scores are undefined.
    Matrix C;
    // G_E and C as accumulated, in double: the eigen pass's QK and OV cores are formed from these.
    Eigen::MatrixXd G_E_exact, C_exact;
    bool same_vocab = false;       // the output vocabulary is the input one (C sums every token)
    bool copying_defined = false;  // at least one token shared (C is defined)
    int shared_tokens = 0;         // tokens summed into C
};

// Computes the Gram matrices by accurate_gram / accurate_product (lib/factored_matrix.hpp) on `threads`
// threads (0 = hardware concurrency); memory beyond the model is one transposed copy of W_U and
// O(threads * d_model^2).
EmbeddingGrams embedding_grams(const Model& model, int threads = 0);

// Throws Error naming `pass` unless `grams` are [d_model, d_model] for config `c` (the Gram matrices a
// pass is handed are those of the model it analyses).
void check_grams(const EmbeddingGrams& grams, const ModelConfig& c, const std::string& pass);

// trace(A B) for A [n, m], B [m, n], in double precision. Throws Error on mismatched shapes.
double trace_of_product(const Matrix& A, const Matrix& B);

// The copying score Σλ / Σ|λ| of a spectrum (complex moduli in the denominator; conjugate pairs cancel
// in the numerator, so it is real), in [-1, 1]; NaN when every eigenvalue is zero. The one definition:
// every copying score of the passes is this of some spectrum.
double copying_score_of_eigenvalues(const Eigen::VectorXcd& eigenvalues);
// The copying score of the eigenvalues of a square `core` [k, k] (all of them, dense); NaN for a zero core.
double copying_score(const Matrix& core);

// sqrt(max(0, x)): a Frobenius norm from a trace that rounding may leave slightly negative.
double norm_from_square(double x);

}  // namespace circuits::analyses
