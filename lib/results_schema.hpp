// Every name in a results file (`circuits analyze`) and in compare.h5 (`circuits compare`), written once.
#pragma once

// The writers (analyses/*.cpp), the reader (reports/results_reader.cpp), the report pages and the CLI
// summary all name groups, datasets and attributes through this header; none spells a path itself.
//
// Conventions:
// - A dataset is named by its full path ("/induction/prev_token"); an attribute by its name alone,
//   in the `attr` namespace of the group (or of `root`) that carries it.
// - One rule for scalars: every scalar, a result (path::attr::direct_norm) or a setting
//   (induction::attr::induction_threshold), is an attribute of its group. Datasets are arrays of
//   rank >= 1, indexed [layer, head, ...] or, for head pairs, [l1, h1, l2, h2]; NaN where undefined.

#include <string>

namespace circuits::schema {

// Root attributes of a results file: what was run, on which model, with which options.
namespace root {
inline constexpr const char* format_value = "circuits-results";
inline constexpr int format_version_value = 1;
namespace attr {
inline constexpr const char* format = "format";
inline constexpr const char* format_version = "format_version";
inline constexpr const char* model_path = "model_path";
inline constexpr const char* model_sha256 = "model_sha256";
inline constexpr const char* circuits_version = "circuits_version";
inline constexpr const char* passes = "passes";
inline constexpr const char* weight_processing = "weight_processing";
// The analysis options (analyses::AnalysisOptions), one attribute each.
inline constexpr const char* top_k = "top_k";
inline constexpr const char* seed = "seed";
inline constexpr const char* baseline_samples = "baseline_samples";
inline constexpr const char* induction_threshold = "induction_threshold";
inline constexpr const char* prev_token_threshold = "prev_token_threshold";
inline constexpr const char* copying_threshold = "copying_threshold";
inline constexpr const char* probe_length = "probe_length";
inline constexpr const char* probe_repeats = "probe_repeats";
inline constexpr const char* probe_sequences = "probe_sequences";
inline constexpr const char* max_order = "max_order";
inline constexpr const char* tokens = "tokens";
}  // namespace attr
}  // namespace root

// The direct path W_E W_U.
namespace bigram {
inline constexpr const char* group = "/bigram";
inline constexpr const char* top_tokens = "/bigram/top_tokens";  // [d_vocab, k] int64
inline constexpr const char* top_logits = "/bigram/top_logits";  // [d_vocab, k]
namespace attr {
inline constexpr const char* top_k = "top_k";
inline constexpr const char* includes_b_U = "includes_b_U";
inline constexpr const char* terms = "terms";
}  // namespace attr
}  // namespace bigram

// Per-head token circuits.
namespace circuits {
inline constexpr const char* group = "/circuits";
inline constexpr const char* ov_top_tokens = "/circuits/ov_top_tokens";  // [L, H, d_vocab, k]
inline constexpr const char* ov_top_values = "/circuits/ov_top_values";
inline constexpr const char* qk_top_tokens = "/circuits/qk_top_tokens";  // top keys per query
inline constexpr const char* qk_top_values = "/circuits/qk_top_values";
inline constexpr const char* skip_trigram_dest_tokens = "/circuits/skip_trigram_dest_tokens";
inline constexpr const char* skip_trigram_dest_values = "/circuits/skip_trigram_dest_values";
inline constexpr const char* ov_diag_top1 = "/circuits/ov_diag_top1";  // [L, H]
inline constexpr const char* ov_diag_rank_mean = "/circuits/ov_diag_rank_mean";
inline constexpr const char* qk_diag_top1 = "/circuits/qk_diag_top1";
inline constexpr const char* qk_diag_rank_mean = "/circuits/qk_diag_rank_mean";
inline constexpr const char* qk_pos = "/circuits/qk_pos";  // [L, H, P, P]
namespace attr {
inline constexpr const char* top_k = "top_k";
inline constexpr const char* n_positions = "n_positions";
inline constexpr const char* attn_scale = "attn_scale";
inline constexpr const char* ov_terms = "ov_terms";
inline constexpr const char* qk_terms = "qk_terms";
inline constexpr const char* qk_pos_terms = "qk_pos_terms";
inline constexpr const char* skip_trigram = "skip_trigram";
inline constexpr const char* diagonal = "diagonal";
inline constexpr const char* exact_share = "exact_share";            // entries the engine computed exactly / all
inline constexpr const char* bounded_circuits = "bounded_circuits";  // circuits on the engine's bounded path
}  // namespace attr
}  // namespace circuits

// Eigenvalues and copying scores of the OV, QK and direct circuits.
namespace eigen {
inline constexpr const char* group = "/eigen";
// One circuit's eigenvalue datasets, [L, H, n] (the direct circuit's: [n]).
struct Eigenvalues {
    const char* re;
    const char* im;
};
inline constexpr Eigenvalues ov_eigenvalues = {"/eigen/ov_eigenvalues_re", "/eigen/ov_eigenvalues_im"};
inline constexpr Eigenvalues qk_eigenvalues = {"/eigen/qk_eigenvalues_re", "/eigen/qk_eigenvalues_im"};
inline constexpr Eigenvalues direct_eigenvalues = {"/eigen/direct_eigenvalues_re", "/eigen/direct_eigenvalues_im"};
inline constexpr const char* ov_copying = "/eigen/ov_copying";  // [L, H]
inline constexpr const char* qk_copying = "/eigen/qk_copying";
inline constexpr const char* ov_converged = "/eigen/ov_converged";  // [L, H] uint8
inline constexpr const char* qk_converged = "/eigen/qk_converged";
namespace attr {
inline constexpr const char* dense_max_dim = "dense_max_dim";
inline constexpr const char* n_top = "n_top";
inline constexpr const char* head_solver = "head_solver";
inline constexpr const char* copying = "copying";
inline constexpr const char* ov_defined = "ov_defined";
inline constexpr const char* ov_undefined_reason = "ov_undefined_reason";
inline constexpr const char* ov_vocabulary = "ov_vocabulary";
inline constexpr const char* direct_copying = "direct_copying";
inline constexpr const char* direct_solver = "direct_solver";
inline constexpr const char* direct_status = "direct_status";
}  // namespace attr
}  // namespace eigen

// Q-, K- and V-composition between head pairs.
namespace composition {
inline constexpr const char* group = "/composition";
// One composition kind: its raw scores and z-scores [L, H, L, H], and its baseline (group attributes).
struct Kind {
    const char* name;  // "q", "k" or "v"
    const char* raw;
    const char* z;
    const char* baseline_mean;  // attribute names
    const char* baseline_std;
};
inline constexpr Kind q = {"q", "/composition/q", "/composition/q_z", "q_baseline_mean", "q_baseline_std"};
inline constexpr Kind k = {"k", "/composition/k", "/composition/k_z", "k_baseline_mean", "k_baseline_std"};
inline constexpr Kind v = {"v", "/composition/v", "/composition/v_z", "v_baseline_mean", "v_baseline_std"};
inline constexpr Kind kinds[] = {q, k, v};
namespace attr {
inline constexpr const char* definition = "definition";
inline constexpr const char* baseline = "baseline";
inline constexpr const char* baseline_samples = "baseline_samples";
inline constexpr const char* baseline_seed = "baseline_seed";
}  // namespace attr
}  // namespace composition

// Path expansion: norms and copying of path terms, and the ablation by order.
namespace path {
inline constexpr const char* group = "/path";
inline constexpr const char* head_norm = "/path/head_norm";  // [L, H]
inline constexpr const char* head_copying = "/path/head_copying";
inline constexpr const char* virtual_norm = "/path/virtual_norm";  // [L, H, L, H]
inline constexpr const char* virtual_copying = "/path/virtual_copying";
inline constexpr const char* qk_direct_norm = "/path/qk_direct_norm";  // [L, H]
inline constexpr const char* qk_direct_copying = "/path/qk_direct_copying";
inline constexpr const char* qk_q_norm = "/path/qk_q_norm";  // [L, H, L, H]
inline constexpr const char* qk_q_copying = "/path/qk_q_copying";
inline constexpr const char* qk_k_norm = "/path/qk_k_norm";
inline constexpr const char* qk_k_copying = "/path/qk_k_copying";
inline constexpr const char* qk_qk_norm = "/path/qk_qk_norm";
inline constexpr const char* order_loss = "/path/order_loss";      // [K + 1]
inline constexpr const char* order_effect = "/path/order_effect";  // [K]
inline constexpr const char* order_loss_repeated = "/path/order_loss_repeated";
// Chains of `order` >= 3 heads (order 1 and 2 are head_* and virtual_*): heads [n, order, 2] int64 as
// (layer, head) pairs, norm [n], copying [n].
inline std::string order_heads(int order) {
    return std::string(group) + "/order" + std::to_string(order) + "_heads";
}
inline std::string order_norm(int order) {
    return std::string(group) + "/order" + std::to_string(order) + "_norm";
}
inline std::string order_copying(int order) {
    return std::string(group) + "/order" + std::to_string(order) + "_copying";
}
namespace attr {
inline constexpr const char* direct_norm = "direct_norm";  // ||W_E W_U||_F
inline constexpr const char* direct_copying = "direct_copying";
inline constexpr const char* real_loss = "real_loss";
inline constexpr const char* real_loss_repeated = "real_loss_repeated";
inline constexpr const char* loss_positions = "loss_positions";
inline constexpr const char* order_loss_not_measured = "order_loss_not_measured";
inline constexpr const char* max_order = "max_order";
inline constexpr const char* tokens = "tokens";
inline constexpr const char* terms = "terms";
inline constexpr const char* order_loss_definition = "order_loss_definition";
}  // namespace attr
}  // namespace path

// Behavioural scores on the repeated-sequence probe, K-composition evidence, head classes.
namespace induction {
inline constexpr const char* group = "/induction";
inline constexpr const char* prev_token = "/induction/prev_token";  // [L, H]
inline constexpr const char* duplicate_token = "/induction/duplicate_token";
inline constexpr const char* induction = "/induction/induction";
inline constexpr const char* copying_eval = "/induction/copying_eval";
inline constexpr const char* mechanistic = "/induction/mechanistic";
inline constexpr const char* ov_copying = "/induction/ov_copying";
inline constexpr const char* k_composition_trace = "/induction/k_composition_trace";  // [L, H, L, H]
// Head classes [L, H] uint8, and the attribute describing each one's rule.
struct HeadClass {
    const char* dataset;
    const char* rule;
};
inline constexpr HeadClass is_induction_head = {"/induction/is_induction_head", "is_induction_head_rule"};
inline constexpr HeadClass is_prev_token_head = {"/induction/is_prev_token_head", "is_prev_token_head_rule"};
inline constexpr HeadClass is_copying_head = {"/induction/is_copying_head", "is_copying_head_rule"};
namespace attr {
inline constexpr const char* induction_threshold = "induction_threshold";
inline constexpr const char* ov_copying_threshold = "ov_copying_threshold";
inline constexpr const char* prev_token_threshold = "prev_token_threshold";
inline constexpr const char* copying_threshold = "copying_threshold";
inline constexpr const char* probe_length = "probe_length";
inline constexpr const char* probe_repeats = "probe_repeats";
inline constexpr const char* probe_sequences = "probe_sequences";
inline constexpr const char* probe_seed = "probe_seed";
inline constexpr const char* probe_without_replacement = "probe_without_replacement";
inline constexpr const char* n_positions = "n_positions";
inline constexpr const char* copying_eval_definition = "copying_eval_definition";
inline constexpr const char* mechanistic_definition = "mechanistic_definition";
}  // namespace attr
}  // namespace induction

// compare.h5, written by `circuits compare`: two models head by head.
namespace compare {
inline constexpr const char* format_value = "circuits-compare";
inline constexpr int format_version_value = 1;
namespace root_attr {
inline constexpr const char* format = "format";
inline constexpr const char* format_version = "format_version";
inline constexpr const char* model_a = "model_a";
inline constexpr const char* model_b = "model_b";
inline constexpr const char* program = "program";
}  // namespace root_attr
inline constexpr const char* group = "/compare";
inline constexpr const char* similarity = "/compare/similarity";  // [La, Ha, Lb, Hb]
inline constexpr const char* attention_similarity = "/compare/attention_similarity";
inline constexpr const char* qk_similarity = "/compare/qk_similarity";
inline constexpr const char* ov_similarity = "/compare/ov_similarity";
inline constexpr const char* matching = "/compare/matching";        // [n, 5]
inline constexpr const char* unmatched_a = "/compare/unmatched_a";  // [n, 2] int64
inline constexpr const char* unmatched_b = "/compare/unmatched_b";
inline constexpr const char* edges_a = "/compare/edges_a";  // [n, 5] int64, attr::edge_columns
inline constexpr const char* edges_b = "/compare/edges_b";
inline constexpr const char* edges_both = "/compare/edges_both";
inline constexpr const char* edges_only_a = "/compare/edges_only_a";
inline constexpr const char* edges_only_b = "/compare/edges_only_b";
inline constexpr const char* probe_example = "/compare/probe_example";  // strings
namespace attr {
inline constexpr const char* agreement = "agreement";  // share of probe positions where predictions agree
inline constexpr const char* accuracy_a = "accuracy_a";
inline constexpr const char* accuracy_b = "accuracy_b";
inline constexpr const char* probe_sequences = "probe_sequences";
inline constexpr const char* probe_positions = "probe_positions";
inline constexpr const char* scored_positions = "scored_positions";
inline constexpr const char* seed = "seed";
inline constexpr const char* edge_z = "edge_z";
inline constexpr const char* baseline_samples = "baseline_samples";
inline constexpr const char* edge_columns = "edge_columns";
inline constexpr const char* similarity_definition = "similarity_definition";
}  // namespace attr
}  // namespace compare

}  // namespace circuits::schema
