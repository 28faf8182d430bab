// The analysis run behind `circuits analyze`: the passes between loading a model and committing its
// results file, timed step by step.
#include "analyses/run.hpp"

#include "lib/error.hpp"
#include "lib/hdf5.hpp"
#include "lib/model_io.hpp"
#include "lib/weight_processing.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <future>
#include <limits>

namespace circuits::analyses {

namespace {

using Clock = std::chrono::steady_clock;

// CPU seconds used by the whole process so far (all threads, user + system).
double process_cpu_seconds() {
    struct rusage u {};
    ::getrusage(RUSAGE_SELF, &u);
    return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// Wall-clock and CPU time since the last restart; CPU time is what a loaded machine does not distort.
class Stopwatch {
public:
    Stopwatch() { restart(); }
    void restart() {
        m_wall = Clock::now();
        m_cpu = process_cpu_seconds();
    }
    // Reports the time since the last restart as `step` and restarts.
    void lap(RunObserver& observer, const std::string& step) {
        observer.timed(step, std::chrono::duration<double>(Clock::now() - m_wall).count(),
                       process_cpu_seconds() - m_cpu);
        restart();
    }

private:
    Clock::time_point m_wall;
    double m_cpu = 0.0;
};

std::vector<const Pass*> select_passes(const std::vector<std::string>& names) {
    for (const auto& name : names)
        if (!find_pass(name)) throw Error("unknown analysis pass '" + name + "'");
    std::vector<const Pass*> selected;
    for (const auto& p : passes())
        if (std::find(names.begin(), names.end(), p.name) != names.end()) selected.push_back(&p);
    return selected;
}

// Weight-based passes read processed weights (LayerNorm folded); the processing keeps the logits, so
// behavioural passes on the same model still run the real forward pass. The unprocessed copy is not
// kept (peak memory). The file's hash is computed while the model loads.
std::pair<Model, std::string> load_for_analysis(const std::string& model_path, RunObserver& observer) {
    auto sha = std::async(std::launch::async, [&] { return sha256_file(model_path); });
    Model model = process_for_analysis(load_model(model_path));
    for (const auto& step : model.weight_processing)
        if (step == "ln_not_folded_shortformer")
            observer.note(model_path +
                          ": LayerNorm not folded (shortformer positions join queries and keys after ln1); "
                          "weight-based scores read the unfolded weights");
    return {std::move(model), sha.get()};
}

// Runs `selected` on the context and writes their groups; the Gram matrices first, timed apart, when
// a pass reads them.
void run_passes(const std::vector<const Pass*>& selected, PassContext& context, H5Writer& w, RunObserver& observer,
                Stopwatch& step) {
    // Parts of a pass are timed from the pass's start or the previous part's end, without restarting
    // the pass's own stopwatch.
    Stopwatch part;
    context.on_step = [&](const std::string& name) { part.lap(observer, name); };
    if (std::any_of(selected.begin(), selected.end(), [](const Pass* p) { return p->uses_grams; })) {
        observer.step_started("embedding Gram matrices");
        context.grams();
        step.lap(observer, "embedding_grams");
        observer.step_finished();
    }
    for (const auto* p : selected) {
        part.restart();
        observer.step_started(p->name);
        p->run(context, w);
        step.lap(observer, p->name);
        observer.step_finished();
    }
}

}  // namespace

AnalysisSummary run_analysis(const AnalysisRequest& request, RunObserver& observer) {
    const auto selected = select_passes(request.passes);
    std::vector<std::string> names;
    for (const auto* p : selected) names.push_back(p->name);
    Stopwatch total, step;
    auto [model, model_sha] = load_for_analysis(request.model_path, observer);
    AnalysisOptions options = request.options;
    if (!request.tokens_file.empty()) {
        options.tokens_source = request.tokens_file;
        options.tokens = read_token_file(model, request.tokens_file);
    }
    step.lap(observer, "load");

    PassContext context(model, options, request.threads);
    {
        AtomicOutput file(request.output_path);
        H5Writer w(file.temp_path());
        write_results_header(w, {request.model_path, model_sha, names, model.weight_processing});
        write_analysis_options(w, options);
        run_passes(selected, context, w, observer, step);
        w.close();
        file.commit();
        step.lap(observer, "write");
    }
    total.lap(observer, "total");
    auto summary = summarize(model.cfg, context.induction ? &*context.induction : nullptr,
                             context.composition ? &*context.composition : nullptr);
    summary.weight_processing = model.weight_processing;
    return summary;
}

AnalysisSummary summarize(const ModelConfig& config, const InductionResult* induction,
                          const CompositionResult* composition) {
    AnalysisSummary s;
    s.config = config;
    const int L = config.n_layers, H = config.n_heads;
    // K-composition partner: the composition pass's z-score when it ran, else the induction pass's trace.
    const Array<float>* partner = composition ? &composition->k_z
                                  : induction ? &induction->k_composition_trace
                                              : nullptr;
    s.partner_score = composition ? "z" : induction ? "trace" : "";
    for (int l = 0; l < L; ++l)
        for (int h = 0; h < H; ++h) {
            HeadSummary row;
            row.layer = l;
            row.head = h;
            if (induction) {
                row.prev_token = induction->prev_token(l, h);
                row.induction = induction->induction(l, h);
                row.ov_copying = induction->ov_copying(l, h);
                const std::pair<const Array<std::uint8_t>*, const char*> classes[] = {
                    {&induction->is_induction_head, "induction"},
                    {&induction->is_prev_token_head, "prev-token"},
                    {&induction->is_copying_head, "copying"}};
                for (const auto& [flags, name] : classes)
                    if (flags->at({l, h}) != 0) row.classes.emplace_back(name);
            }
            double best = -std::numeric_limits<double>::infinity();
            for (int l1 = 0; partner && l1 < l; ++l1)
                for (int h1 = 0; h1 < H; ++h1) {
                    const double v = partner->at({l1, h1, l, h});
                    if (std::isfinite(v) && v > best) {
                        best = v;
                        row.partner = KPartner{l1, h1, v};
                    }
                }
            s.heads.push_back(std::move(row));
        }
    return s;
}

}  // namespace circuits::analyses
