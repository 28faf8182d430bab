// The table of analysis passes: each line maps the shared options to one pass's options, runs it and
// writes its group.
#include "analyses/registry.hpp"

#include "lib/hdf5.hpp"
#include "lib/results_schema.hpp"

namespace circuits::analyses {

namespace {

// The options of a pass whose only run setting is top_k (bigram, circuits).
template <typename PassOptions>
PassOptions top_k_options(const AnalysisOptions& o, int threads) {
    PassOptions p;
    p.top_k = o.top_k;
    p.threads = threads;
    return p;
}

// The repeated probe's settings of a pass that draws one (path expansion, induction).
template <typename PassOptions>
void set_probe(const AnalysisOptions& o, PassOptions& p) {
    p.probe_length = o.probe_length;
    p.probe_repeats = o.probe_repeats;
    p.probe_sequences = o.probe_sequences;
    p.seed = o.seed;
}

}  // namespace

BigramOptions bigram_options(const AnalysisOptions& o, int threads) {
    return top_k_options<BigramOptions>(o, threads);
}

CircuitsOptions circuits_options(const AnalysisOptions& o, int threads) {
    return top_k_options<CircuitsOptions>(o, threads);
}

EigenPassOptions eigen_options(const AnalysisOptions&, int threads) {
    EigenPassOptions p;
    p.threads = threads;
    return p;
}

CompositionOptions composition_options(const AnalysisOptions& o, int threads) {
    CompositionOptions p;
    p.baseline_samples = o.baseline_samples;
    p.seed = o.seed;
    p.threads = threads;
    return p;
}

PathExpansionOptions path_expansion_options(const AnalysisOptions& o, int threads) {
    PathExpansionOptions p;
    p.max_order = o.max_order;
    p.threads = threads;
    p.tokens = o.tokens;
    p.tokens_source = o.tokens_source;
    set_probe(o, p);
    return p;
}

InductionOptions induction_options(const AnalysisOptions& o, int threads) {
    InductionOptions p;
    set_probe(o, p);
    p.induction_threshold = o.induction_threshold;
    p.prev_token_threshold = o.prev_token_threshold;
    p.copying_threshold = o.copying_threshold;
    p.threads = threads;
    return p;
}

namespace {

void run_bigram(PassContext& c, H5Writer& w) {
    write(w, compute_bigram(c.model(), bigram_options(c.options(), c.threads())));
}

void run_circuits(PassContext& c, H5Writer& w) {
    write(w, compute_circuits(c.model(), circuits_options(c.options(), c.threads())));
}

void run_eigen(PassContext& c, H5Writer& w) {
    c.eigen = compute_eigen(c.model(), eigen_options(c.options(), c.threads()), c.grams());
    write(w, *c.eigen);
}

void run_composition(PassContext& c, H5Writer& w) {
    c.composition = compute_composition(c.model(), composition_options(c.options(), c.threads()));
    write(w, *c.composition);
}

void run_path_expansion(PassContext& c, H5Writer& w) {
    auto p = path_expansion_options(c.options(), c.threads());
    if (c.on_step) p.on_step = [&c](const std::string& step) { c.on_step("path_expansion." + step); };
    write(w, compute_path_expansion(c.model(), p, c.grams(), c.eigen ? &*c.eigen : nullptr));
}

void run_induction(PassContext& c, H5Writer& w) {
    c.induction = compute_induction(c.model(), induction_options(c.options(), c.threads()), c.grams(),
                            c.eigen ? &c.eigen->ov_copying : nullptr);
    write(w, *c.induction);
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
        {"bigram", schema::bigram::group, "direct path W_E W_U: top output tokens per input token", run_bigram, false},
        {"circuits", schema::circuits::group, "per-head OV and QK token circuits: top entries, diagonal, positional QK",
         run_circuits, false},
        {"eigen", schema::eigen::group, "eigenvalues and copying scores of the OV, QK and direct circuits", run_eigen,
         true},
        {"composition", schema::composition::group, "Q-, K-, V-composition scores with random baselines and z-scores",
         run_composition, false},
        {"path_expansion", schema::path::group,
         "path terms up to order K: factored norms, copying, QK terms, ablation by order", run_path_expansion, true},
        {"induction", schema::induction::group, "induction probe scores, K-composition evidence, head classification",
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
    namespace a = schema::root::attr;
    w.attr("/", a::top_k, o.top_k);
    w.attr("/", a::seed, static_cast<std::int64_t>(o.seed));
    w.attr("/", a::baseline_samples, o.baseline_samples);
    w.attr("/", a::induction_threshold, o.induction_threshold);
    w.attr("/", a::prev_token_threshold, o.prev_token_threshold);
    w.attr("/", a::copying_threshold, o.copying_threshold);
    w.attr("/", a::probe_length, o.probe_length);
    w.attr("/", a::probe_repeats, o.probe_repeats);
    w.attr("/", a::probe_sequences, o.probe_sequences);
    w.attr("/", a::max_order, o.max_order);
    w.attr("/", a::tokens, o.tokens_source.empty() ? std::string("induction probe") : o.tokens_source);
}

}  // namespace circuits::analyses
