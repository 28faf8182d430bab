// Comparing two models head by head: behaviour on a shared probe, attention / QK / OV similarity
// of every pair of heads, an optimal one-to-one matching, and which composition edges correspond.
#pragma once

#include "analyses/results.hpp"
#include "lib/model.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace circuits::analyses {

// The expected output of a known program for an input (token strings, BOS excluded): one value
// string per position, nullopt where the program gives none.
using ReferenceFn = std::function<std::vector<std::optional<std::string>>(const std::vector<std::string>&)>;

struct CompareOptions {
    int probe = 200;              // probe sequences
    int max_len = 0;              // longest probe input (0 = the longest both models accept)
    std::uint64_t seed = 0;       // seed of the probe
    double edge_z = 3.0;          // a composition edge: z-score above this
    int baseline_samples = 200;   // random-baseline samples for the composition z-scores
    int threads = 0;              // 0 = hardware concurrency
    ReferenceFn reference;        // the program, when known: accuracy and probe lengths from 1 to max_len
    std::vector<std::string> probe_vocab;  // tokens the probe draws from (default: shared non-BOS tokens)
};

struct HeadRef {
    int layer = 0;
    int head = 0;
};

struct MatchedPair {
    HeadRef a, b;
    double similarity = 0.0;  // combined
    double attention = 0.0, qk = 0.0, ov = 0.0;  // components (NaN where undefined)
};

struct CompositionEdge {
    char kind = 'k';  // 'q', 'k' or 'v'
    HeadRef from, to;  // earlier head, later head
    double z = 0.0;
};

struct CompareResult {
    // [La, Ha, Lb, Hb], row-major in that order.
    Array<float> similarity, attention_similarity, qk_similarity, ov_similarity;
    std::vector<MatchedPair> matching;  // by decreasing similarity
    std::vector<HeadRef> unmatched_a, unmatched_b;
    double agreement = 0.0;  // share of probe positions where the two predictions agree
    double accuracy_a = std::numeric_limits<double>::quiet_NaN();  // against the reference, when given
    double accuracy_b = std::numeric_limits<double>::quiet_NaN();
    int n_positions = 0;          // probe positions compared
    int n_scored = 0;             // positions with a reference value
    std::vector<std::vector<std::string>> probe;  // the probe inputs (token strings, BOS excluded)
    std::vector<CompositionEdge> edges_a, edges_b;         // above edge_z in each model
    std::vector<CompositionEdge> edges_both, edges_only_a, edges_only_b;  // under the matching (A's heads)
    CompareOptions options;
};

// Maps every input token of `b` to the index of the token with the same string in `a`. Throws
// Error naming the first token that differs when the two input vocabularies are not the same set.
std::vector<int> match_vocabularies(const Model& a, const Model& b);

// Jensen–Shannon divergence (base 2, in [0, 1]) of two distributions of equal length.
double jensen_shannon(const Eigen::Ref<const Eigen::VectorXd>& p, const Eigen::Ref<const Eigen::VectorXd>& q);

// The assignment maximising the summed score of a [rows, cols] matrix (rows and cols may differ):
// result[r] = the column given to row r, or -1 when left unassigned. Hungarian algorithm, O(n^3).
std::vector<int> optimal_assignment(const Eigen::MatrixXd& score);

// Compares `a` and `b`. Widths, layer and head counts may differ; input vocabularies must match by
// string. Throws Error for mismatched vocabularies or models too large to compare token by token.
CompareResult compute_compare(const Model& a, const Model& b, const CompareOptions& options = {});

// Writes group /compare (names as in ARCHITECTURE.md plus the edges and behaviour figures).
void write(H5Writer& w, const CompareResult& r);

}  // namespace circuits::analyses
