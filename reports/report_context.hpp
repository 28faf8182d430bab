// Everything the report pages are rendered from, gathered once: results, model, probe, classifications.
#pragma once

#include "lib/model.hpp"
#include "reports/report.hpp"
#include "reports/results_reader.hpp"
#include "reports/svg.hpp"

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace circuits::reports {

// One head class from the induction pass (previous-token, induction, copying).
struct HeadClass {
    std::string key;      // "induction"
    std::string label;    // "induction"
    std::string dataset;  // "/induction/is_induction_head"
    std::string rule;     // the rule attribute, or ""
    bool present = false;
    std::vector<std::pair<int, int>> heads;  // (layer, head), in order
    bool contains(int layer, int head) const;
};

// An input sequence (the report's probe, lib/probe.hpp, or one of ReportOptions::inputs) and every
// head's attention pattern on it (the real forward pass of the model).
struct AttentionInput {
    std::string name;                           // "induction probe", "tokens.txt line 1"
    std::vector<int> tokens;                    // BOS first when the model has one
    std::vector<std::vector<Matrix>> patterns;  // [layer][head] -> [T query, T key]
};

// A chart of the model file's /training group.
struct TrainingChart {
    std::string dataset;  // "/training/loss" (the first dataset drawn)
    LineChart chart;
    std::string caption;  // plain text
};

// The training section: curated charts against the training step, the rest tucked away, and the
// checkpoints as a list (never their raw weights).
struct TrainingSection {
    // Loss (training and validation), attention entropy, previous-token and induction score per head,
    // in-context loss: those present, in that order, each with the phase-change window marked.
    std::vector<TrainingChart> curated;
    std::vector<TrainingChart> other;  // every other per-step dataset outside /training/checkpoints
    std::vector<std::pair<int, double>> checkpoints;  // (index, step) of /training/checkpoints/{i}
    // The phase-change window [lo, hi] in steps (lo > hi: none found) and the rule that found it.
    double phase_lo = 1.0, phase_hi = 0.0;
    std::string phase_rule;
    bool empty() const { return curated.empty() && other.empty() && checkpoints.empty(); }
};

struct ReportContext {
    const ResultsReader& results;
    ReportOptions options;
    std::optional<Model> model;
    std::string model_path;  // the file read, or the one named in the results
    int n_layers = 0, n_heads = 0;
    std::vector<HeadScore> scores;
    std::vector<HeadClass> classes;  // previous-token, induction, copying
    std::vector<Composition> compositions;
    std::optional<AttentionInput> probe;
    std::vector<AttentionInput> inputs;  // ReportOptions::inputs with their patterns
    TrainingSection training;
    std::vector<std::string> notes;  // what was left out and why (also returned by write_report)

    // Input / output token string (raw, not escaped) for an index; numbered when no model was read.
    std::string token(std::int64_t index) const;
    std::string token_out(std::int64_t index) const;
    std::optional<double> score(const std::string& key, int layer, int head) const;
};

// The pages, as complete documents.
std::string render_index(const ReportContext& ctx);
std::string render_head_page(const ReportContext& ctx, int layer, int head);
std::string render_layer_page(const ReportContext& ctx, int layer);
std::string render_summary(const ReportContext& ctx);

// Shared pieces of the pages.
std::string token_html(const std::string& token);  // <span class="tok" title="...">…</span>, escaped
std::string value_span(double v);  // <span class="val">number</span>
// Rows of a top-k table to show: all of them in token order when there are at most max_rows, else the
// max_rows rows with the largest first value.
std::vector<int> rows_to_show(const TopTable& t, int max_rows);
// A top-k table with element id `id` and rows `id`-ROW: every row for small vocabularies, else the
// options.max_token_rows rows with the largest top-1 value; `output_vocab`: the listed tokens index
// vocab_out (OV, bigram) rather than vocab (QK).
// With `data_key` (a table too long to show whole, token_search.hpp): a search box and pager over
// every row, read from data/{data_key}.js.
std::string top_table_html(const ReportContext& ctx, const TopTable& t, bool output_vocab, const std::string& id,
                           const std::string& row_title, const std::string& data_key = "");

// The training section of a model file's /training group (the layout `circuits train` writes:
// /training/loss per step, /training/dynamics/{step, loss, entropy, prev_token, induction,
// repeat_loss, ...}, /training/checkpoints/{i} and /training/checkpoints/step). Per-head datasets are
// [steps, L, H] or [steps, L*H]; each series is named L{l}H{h}. A dataset's x values are the step
// dataset beside it (dynamics/step; /training/steps or /training/step), else 1, 2, ... (the loss of
// update i is logged as step i).
TrainingSection training_section(const H5Reader& model_file, int n_layers, int n_heads);

}  // namespace circuits::reports
