// The registry of analysis passes run by `circuits analyze`: adding a pass touches its own files and
// one line of the table in registry.cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "analyses/bigram.hpp"
#include "analyses/circuits.hpp"
#include "analyses/composition.hpp"
#include "analyses/defaults.hpp"
#include "analyses/eigen.hpp"
#include "analyses/embedding_grams.hpp"
#include "analyses/induction.hpp"
#include "analyses/path_expansion.hpp"
#include "analyses/results.hpp"
#include "lib/model.hpp"

namespace circuits::analyses {

// Every option of an analysis run that changes a number in the results. Its member initialisers are
// the defaults of `circuits analyze` (analyses/defaults.hpp; the CLI reads them from AnalysisOptions{});
// a pass's own option struct is derived from it by the function below named after the pass.
struct AnalysisOptions {
    int top_k = defaults::top_k;
    std::uint64_t seed = defaults::seed;
    int baseline_samples = defaults::baseline_samples;
    double induction_threshold = defaults::induction_threshold;
    double prev_token_threshold = defaults::prev_token_threshold;
    double copying_threshold = defaults::copying_threshold;
    int probe_length = defaults::probe_length;
    int probe_repeats = defaults::probe_repeats;
    int probe_sequences = defaults::probe_sequences;
    int max_order = defaults::max_order;
    std::vector<std::vector<int>> tokens;  // path expansion token set; empty = the induction probe
    std::string tokens_source;             // where `tokens` came from ("" = the probe)
};

// Each pass's options for a run with `options` on `threads` worker threads (0 = every core).
BigramOptions bigram_options(const AnalysisOptions& options, int threads);
CircuitsOptions circuits_options(const AnalysisOptions& options, int threads);
EigenPassOptions eigen_options(const AnalysisOptions& options, int threads);
CompositionOptions composition_options(const AnalysisOptions& options, int threads);
PathExpansionOptions path_expansion_options(const AnalysisOptions& options, int threads);
InductionOptions induction_options(const AnalysisOptions& options, int threads);

// What a pass reads: the (weight-processed) model, the options, the thread count, and the embedding
// Gram matrices, computed on first use and shared by every pass of the run.
class PassContext {
public:
    PassContext(const Model& model, const AnalysisOptions& options, int threads);
    const Model& model() const { return m_model; }
    const AnalysisOptions& options() const { return m_options; }
    int threads() const { return m_threads; }
    const EmbeddingGrams& grams();
    // Called by a pass with "pass.step" when a timed part of it ends (path_expansion: terms,
    // ablation); unset by default.
    std::function<void(const std::string& step)> on_step;
    // The results the run's per-head summary reads, kept when their pass ran (small: [L, H] and
    // [L, H, L, H] arrays).
    std::optional<InductionResult> induction;
    std::optional<CompositionResult> composition;
    // The eigen pass's result ([L, H, d_head] arrays at most), kept when it ran so that the induction
    // and path passes read its copying scores rather than computing them again.
    std::optional<EigenResult> eigen;

private:
    const Model& m_model;
    const AnalysisOptions& m_options;
    const int m_threads;
    std::unique_ptr<EmbeddingGrams> m_grams;
};

// One pass: runs on the context and writes its results group.
struct Pass {
    const char* name;     // as given to --passes
    const char* group;    // the results group it writes, e.g. schema::path::group
    const char* summary;  // one line for --help
    void (*run)(PassContext& context, H5Writer& writer);
    bool uses_grams;  // reads PassContext::grams() (the caller may compute them up front, timed apart)
};

// Every pass, in the order a run executes them.
const std::vector<Pass>& passes();

// The pass called `name`, or nullptr.
const Pass* find_pass(const std::string& name);

// Writes the options as root attributes of a results file.
void write_analysis_options(H5Writer& w, const AnalysisOptions& options);

}  // namespace circuits::analyses
