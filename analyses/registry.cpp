// The table of analysis passes: each line maps the shared options to one pass's options, runs it and
// writes its group.
#include "analyses/registry.hpp"

#include "analyses/bigram.hpp"
#include "analyses/circuits.hpp"
#include "analyses/composition.hpp"
#include "analyses/eigen.hpp"
#include "analyses/induction.hpp"
#include "analyses/path_expansion.hpp"

namespace circuits::analyses {

namespace {

void run_bigram(PassContext& c, H5Writer& w) {
    BigramOptions p;
    p.top_k = c.options().top_k;
    p.threads = c.threads();
    write(w, compute_bigram(c.model(), p));
}

void run_circuits(PassContext& c, H5Writer& w) {
    CircuitsOptions p;
    p.top_k = c.options().top_k;
    p.threads = c.threads();
    write(w, compute_circuits(c.model(), p));
}

void run_eigen(PassContext& c, H5Writer& w) {
    EigenPassOptions p;
    p.threads = c.threads();
    write(w, compute_eigen(c.model(), p));
}

void run_composition(PassContext& c, H5Writer& w) {
    CompositionOptions p;
    p.baseline_samples = c.options().baseline_samples;
    p.seed = c.options().seed;
    p.threads = c.threads();
    write(w, compute_composition(c.model(), p));
}

void run_path_expansion(PassContext& c, H5Writer& w) {
    const auto& o = c.options();
    PathExpansionOptions p;
    p.max_order = o.max_order;
    p.threads = c.threads();
    p.tokens = o.tokens;
    p.tokens_source = o.tokens_source;
    p.probe_length = o.probe_length;
    p.probe_repeats = o.probe_repeats;
    p.probe_sequences = o.probe_sequences;
    p.seed = o.seed;
    if (c.on_step) p.on_step = [&c](const std::string& step) { c.on_step("path_expansion." + step); };
    write_path_expansion(w, path_expansion(c.model(), p, c.grams()));
}

void run_induction(PassContext& c, H5Writer& w) {
    const auto& o = c.options();
    InductionOptions p;
    p.probe_length = o.probe_length;
    p.probe_repeats = o.probe_repeats;
    p.probe_sequences = o.probe_sequences;
    p.seed = o.seed;
    p.induction_threshold = o.induction_threshold;
    p.prev_token_threshold = o.prev_token_threshold;
    p.copying_threshold = o.copying_threshold;
    p.threads = c.threads();
    write_induction(w, induction(c.model(), p, c.grams()));
}

}  // namespace

PassContext::PassContext(const Model& model, const AnalysisOptions& options, int threads)
    : m_model(model), m_options(options), m_threads(threads) {}

const EmbeddingGrams& PassContext::grams() {
    if (!m_grams) m_grams = std::make_unique<EmbeddingGrams>(embedding_grams(m_model, m_threads));
    return *m_grams;
}

const std::vector<Pass>& passes() {
    static const std::vector<Pass> all = {
        {"bigram", "/bigram", "direct path W_E W_U: top output tokens per input token", run_bigram, false},
        {"circuits", "/circuits", "per-head OV and QK token circuits: top entries, diagonal, positional QK",
         run_circuits, false},
        {"eigen", "/eigen", "eigenvalues and copying scores of the OV, QK and direct circuits", run_eigen, false},
        {"composition", "/composition", "Q-, K-, V-composition scores with random baselines and z-scores",
         run_composition, false},
        {"path_expansion", "/path", "path terms up to order K: factored norms, copying, QK terms, ablation by order",
         run_path_expansion, true},
        {"induction", "/induction", "induction probe scores, K-composition evidence, head classification",
         run_induction, true},
    };
    return all;
}

const Pass* find_pass(const std::string& name) {
    for (const auto& p : passes())
        if (name == p.name) return &p;
    return nullptr;
}

void write_analysis_options(H5Writer& w, const AnalysisOptions& o) {
    w.attr("/", "top_k", o.top_k);
    w.attr("/", "seed", static_cast<std::int64_t>(o.seed));
    w.attr("/", "baseline_samples", o.baseline_samples);
    w.attr("/", "induction_threshold", o.induction_threshold);
    w.attr("/", "prev_token_threshold", o.prev_token_threshold);
    w.attr("/", "copying_threshold", o.copying_threshold);
    w.attr("/", "probe_length", o.probe_length);
    w.attr("/", "probe_repeats", o.probe_repeats);
    w.attr("/", "probe_sequences", o.probe_sequences);
    w.attr("/", "max_order", o.max_order);
    w.attr("/", "tokens", o.tokens_source.empty() ? std::string("induction probe") : o.tokens_source);
}

}  // namespace circuits::analyses
