// One analysis run, as `circuits analyze` does it: load, hash, process the weights, run the passes,
// write the results file atomically, and the per-head summary of what the passes found.
#pragma once

#include "analyses/registry.hpp"
#include "lib/model.hpp"

#include <optional>
#include <string>
#include <vector>

namespace circuits::analyses {

struct AnalysisRequest {
    std::string model_path;
    std::string output_path;          // the results file, written under a temporary name, then renamed
    std::vector<std::string> passes;  // names (find_pass); run once each, in registry order
    AnalysisOptions options;          // options.tokens is filled from tokens_file when one is given
    std::string tokens_file;          // path ablation token set (read_token_file); "" = the induction probe
    int threads = 0;                  // 0 = every core
};

// Told what a run is doing. Every callback defaults to nothing.
class RunObserver {
public:
    virtual ~RunObserver() = default;
    // A step that may take long (the embedding Gram matrices, a pass) starts and ends; `label` is
    // for a progress display.
    virtual void step_started(const std::string& label) { (void)label; }
    virtual void step_finished() {}
    // Wall-clock and CPU seconds (all threads) of a step: load, embedding_grams, each pass, a part of
    // a pass ("path_expansion.terms", timed from the pass's start or the previous part's end), write,
    // and total (the whole run).
    virtual void timed(const std::string& step, double wall_s, double cpu_s) {
        (void)step;
        (void)wall_s;
        (void)cpu_s;
    }
    // Something the user should know about the model (weights read unprocessed, ...).
    virtual void note(const std::string& message) { (void)message; }
};

// The strongest earlier head composing into a head's keys.
struct KPartner {
    int layer = 0, head = 0;
    double score = 0.0;
};

// One row of the per-head summary; an absent value is a pass that did not run.
struct HeadSummary {
    int layer = 0, head = 0;
    std::optional<double> prev_token, induction, ov_copying;  // the induction pass's (NaN: undefined)
    std::optional<KPartner> partner;                          // largest finite score over heads of earlier layers
    std::vector<std::string> classes;                         // "induction", "prev-token", "copying", in that order
};

struct AnalysisSummary {
    ModelConfig config;  // of the processed model
    std::vector<std::string> weight_processing;
    // What KPartner::score is: "z" (composition K z-score) when the composition pass ran, "trace"
    // (the induction pass's k_composition_trace) when only that one did, "" when neither.
    std::string partner_score;
    std::vector<HeadSummary> heads;  // layer-major
};

// Runs the requested passes on the model at request.model_path and writes request.output_path.
// Throws Error for an unknown pass, an unreadable model or token file, or a failed write (then no
// results file is left behind).
AnalysisSummary run_analysis(const AnalysisRequest& request, RunObserver& observer);

// The summary from a finished run's results (either may be absent).
AnalysisSummary summarize(const ModelConfig& config, const InductionResult* induction,
                          const CompositionResult* composition);

}  // namespace circuits::analyses
