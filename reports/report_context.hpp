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

// The report's probe sequence (lib/probe.hpp) and every head's attention pattern on it (the real
// forward pass of the model).
struct ProbeAttention {
    std::vector<int> tokens;                    // BOS first when the model has one
    std::vector<std::vector<Matrix>> patterns;  // [layer][head] -> [T query, T key]
};

// A chart of the model file's /training group.
struct TrainingChart {
    std::string dataset;  // "/training/loss"
    LineChart chart;
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
    std::optional<ProbeAttention> probe;
    std::vector<TrainingChart> training;
    std::vector<std::string> notes;  // what was left out and why (also returned by write_report)

    // Input / output token string (raw, not escaped) for an index; numbered when no model was read.
    std::string token(std::int64_t index) const;
    std::string token_out(std::int64_t index) const;
    std::optional<double> score(const std::string& key, int layer, int head) const;
};

// The pages, as complete documents.
std::string render_index(const ReportContext& ctx);
std::string render_head_page(const ReportContext& ctx, int layer, int head);
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
std::string top_table_html(const ReportContext& ctx, const TopTable& t, bool output_vocab, const std::string& id,
                           const std::string& row_title);

// Charts of a model file's /training group: every numeric dataset whose first dimension is the number
// of steps (from /training/steps or /training/step; else the index) becomes a line chart with one
// series per column, named L{l}H{h} when the columns are the model's heads.
std::vector<TrainingChart> training_charts(const H5Reader& model_file, int n_layers, int n_heads);

}  // namespace circuits::reports
