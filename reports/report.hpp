// The per-head HTML report of a results file: index.html, heads/L{l}H{h}.html and summary.md.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace circuits {
struct Model;
}

namespace circuits::reports {

// A token sequence to show in the attention viewer: ids into the model's vocabulary, BOS included when
// the model has one. `--tokens FILE` gives one per line (analyses::read_token_file); a tokenizer
// (`--text`) will fill the same struct.
struct TokenInput {
    std::string name;  // shown in the viewer's input menu: "tokens.txt line 2"
    std::vector<int> tokens;
};

struct ReportOptions {
    // The model file: "" = the results file's root attribute model_path (as written, then relative to
    // the results file's folder). Without a model the report still renders, with numbered tokens and
    // without config, probe attention and training curves.
    std::string model_path;
    int max_token_rows = 40;  // token-table rows per head; larger vocabularies show the strongest rows
    int max_top_k = 10;       // columns of the top-k tables (the results file may hold more)
    int probe_length = 8;     // distinct tokens in the probe sequence, which is shown twice
    std::uint64_t probe_seed = 0;
    int partners = 5;  // composition partners listed per kind and direction on a head page
    std::vector<TokenInput> inputs;  // shown in the attention viewer after the probe
    // More inputs made from the loaded model (token strings need its vocabulary: `--tokens FILE`);
    // called once, after `inputs`. A report with inputs needs the model file.
    std::function<std::vector<TokenInput>(const Model&)> inputs_from_model;
    // Composition graph: an edge for every Q/K/V pair whose z-score against the random baseline is at
    // least this (stated on the page).
    double edge_z = 3.0;
    // Also write png/*.png of the main figures (composition graph, score grids, training charts, each
    // layer's attention heatmap) through headless Chromium (reports/png_export.hpp); write_report
    // throws Error before writing anything when Chromium is not found.
    bool png = false;
};

struct ReportSummary {
    std::string out_dir;
    std::string model_path;  // the model file read, "" when none
    int head_pages = 0;
    int pngs = 0;  // PNGs written under png/
    std::vector<std::string> notes;  // what was left out and why
};

// Renders the report of `results_path` into the folder `out_dir`, written atomically: the folder is
// built under a temporary name beside it and renamed into place (an existing folder is replaced).
// Throws Error naming the file and dataset for a file that is not a results file or has a dataset
// of the wrong shape, or when the folder cannot be written.
ReportSummary write_report(const std::string& results_path, const std::string& out_dir,
                           const ReportOptions& options = {});

// The folder `circuits report RESULTS` writes when no -o is given: RESULTS without its extension
// followed by "-report" ("runs/results.h5" -> "runs/results-report").
std::string default_report_dir(const std::string& results_path);

// The name of head (layer, head): "L1H0"; its page: "L1H0.html".
std::string head_name(int layer, int head);
std::string head_page_name(int layer, int head);
// The page of layer l (the viewer over all its heads): "L1.html" under layers/.
std::string layer_page_name(int layer);

}  // namespace circuits::reports
