// The [d_model, d_model] Gram matrices of the embedding and unembedding, through which every norm,
// trace and eigenvalue of a factored full-vocabulary circuit reduces to small matrices.
#pragma once

#include "lib/model.hpp"

namespace circuits::analyses {

// With these, a token-space circuit A B^T (A, B [d_vocab, k] products of W_E with small factors) has
// ||A B^T||_F^2 = trace((A^T A)(B^T B)) and A^T A = F^T G_E F when A = W_E F: the d_vocab dimension
// is summed once here, never again per head.
struct EmbeddingGrams {
    Matrix G_E;  // [d_model, d_model] W_E^T W_E
    Matrix G_U;  // [d_model, d_model] W_U W_U^T
    // [d_model, d_model] W_U W_E: eig(W_E F W_U) = eig(F (W_U W_E)) ∪ {0}. Empty unless
    // `same_vocab`, i.e. the output vocabulary is the input one (same size and strings), the
    // condition under which copying scores are defined.
    Matrix C;
    bool same_vocab = false;
};

// Computes the Gram matrices in row blocks of the vocabulary on `threads` threads (0 = hardware
// concurrency); memory beyond the model is O(threads * d_model^2).
EmbeddingGrams embedding_grams(const Model& model, int threads = 0);

// trace(A B) for A [n, m], B [m, n], in double precision. Throws Error on mismatched shapes.
double trace_of_product(const Matrix& A, const Matrix& B);

// Copying score sum(λ) / sum(|λ|) of the eigenvalues of a square `core` [k, k] (complex moduli in the
// denominator), in [-1, 1]; NaN when every eigenvalue is zero (the circuit is zero).
double copying_score(const Matrix& core);

// sqrt(max(0, x)): a Frobenius norm from a trace that rounding may leave slightly negative.
double norm_from_square(double x);

}  // namespace circuits::analyses
