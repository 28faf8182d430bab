// `circuits analyze MODEL`: runs the registered analysis passes, writes the results file atomically and
// prints a per-head summary table.
#include "cli/commands.hpp"

#include "reports/report.hpp"

#include "analyses/registry.hpp"
#include "analyses/path_expansion.hpp"
#include "analyses/results.hpp"
#include "lib/error.hpp"
#include "lib/hdf5.hpp"
#include "lib/model_io.hpp"
#include "lib/weight_processing.hpp"

#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <future>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <iomanip>
#include <limits>
#include <mutex>
#include <ostream>
#include <sstream>
#include <thread>

namespace circuits::cli {

namespace po = boost::program_options;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// CPU seconds used by the whole process so far (all threads, user + system).
double process_cpu_seconds() {
    struct rusage u {};
    ::getrusage(RUSAGE_SELF, &u);
    return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// "MODEL.h5" -> "MODEL.results.h5"; any other name gets ".results.h5" appended.
std::string default_output(const std::string& model_path) {
    const std::string ext = ".h5";
    if (model_path.size() > ext.size() && model_path.compare(model_path.size() - ext.size(), ext.size(), ext) == 0)
        return model_path.substr(0, model_path.size() - ext.size()) + ".results.h5";
    return model_path + ".results.h5";
}

std::vector<std::string> split_list(const std::string& s) {
    std::vector<std::string> out;
    std::string item;
    std::istringstream in(s);
    while (std::getline(in, item, ','))
        if (!item.empty()) out.push_back(item);
    return out;
}

std::string pass_names() {
    std::string out;
    for (const auto& p : analyses::passes()) out += (out.empty() ? "" : ",") + std::string(p.name);
    return out;
}

// Shows "analyze: NAME ... Ns" on a terminal's stderr while a step runs, from one second on, and erases
// it when the step ends. Draws nothing when stderr is not a terminal.
class Progress {
public:
    Progress(std::ostream& err, std::string name) : m_err(err), m_name(std::move(name)) {
        if (stderr_is_terminal()) m_thread = std::thread([this] { draw(); });
    }
    ~Progress() {
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_done = true;
        }
        m_wake.notify_all();
        if (m_thread.joinable()) m_thread.join();
    }
    Progress(const Progress&) = delete;
    Progress& operator=(const Progress&) = delete;

private:
    void draw() {
        const auto start = Clock::now();
        std::unique_lock<std::mutex> lock(m_mutex);
        bool drawn = false;
        while (!m_wake.wait_for(lock, std::chrono::seconds(1), [this] { return m_done; })) {
            m_err << "\ranalyze: " << m_name << " ... " << static_cast<int>(seconds_since(start)) << "s" << std::flush;
            drawn = true;
        }
        if (drawn) m_err << "\r\033[K" << std::flush;
    }
    std::ostream& m_err;
    std::string m_name;
    std::mutex m_mutex;
    std::condition_variable m_wake;
    bool m_done = false;
    std::thread m_thread;
};

std::string format_score(double v) {
    if (std::isnan(v)) return "nan";
    std::ostringstream os;
    os << std::fixed << std::setprecision(3) << v;
    return os.str();
}

std::string head_name(int l, int h) { return "L" + std::to_string(l) + "H" + std::to_string(h); }

// The per-head table, read back from the finished results file: whatever the run's passes wrote.
void print_summary(const std::string& results_path, const ModelConfig& c, std::ostream& out) {
    const H5Reader r(results_path);
    const int L = c.n_layers, H = c.n_heads;
    auto read = [&](const std::string& name) {
        return r.exists(name) ? r.read_float(name) : Array<float>{};
    };
    const auto prev = read("induction/prev_token"), ind = read("induction/induction"),
               ov = read("induction/ov_copying");
    const auto is_ind = read("induction/is_induction_head"), is_prev = read("induction/is_prev_token_head"),
               is_copy = read("induction/is_copying_head");
    // K-composition partner: the composition pass's z-score when it ran, else the induction pass's trace.
    const bool have_z = r.exists("composition/k_z");
    const auto partner_score = have_z ? read("composition/k_z") : read("induction/k_composition_trace");
    const std::string partner_label = have_z ? "z" : "trace";

    auto at2 = [&](const Array<float>& a, int l, int h) {
        return a.data.empty() ? std::nan("") : double(a.data[static_cast<size_t>(l * H + h)]);
    };
    out << std::left << std::setw(7) << "head" << std::right << std::setw(12) << "prev-token" << std::setw(11)
        << "induction" << std::setw(12) << "OV copying" << "  " << std::left << std::setw(28)
        << "strongest K-comp partner" << "class\n";
    for (int l = 0; l < L; ++l)
        for (int h = 0; h < H; ++h) {
            std::string partner = "-";
            if (!partner_score.data.empty()) {
                double best = -std::numeric_limits<double>::infinity();
                for (int l1 = 0; l1 < l; ++l1)
                    for (int h1 = 0; h1 < H; ++h1) {
                        const double v = partner_score.data[static_cast<size_t>(((l1 * H + h1) * L + l) * H + h)];
                        if (std::isfinite(v) && v > best) {
                            best = v;
                            partner = head_name(l1, h1) + " (" + partner_label + " " + format_score(v) + ")";
                        }
                    }
            }
            std::string cls;
            auto tag = [&](const Array<float>& a, const char* name) {
                if (!a.data.empty() && a.data[static_cast<size_t>(l * H + h)] != 0.0f) cls += (cls.empty() ? "" : "+") + std::string(name);
            };
            tag(is_ind, "induction");
            tag(is_prev, "prev-token");
            tag(is_copy, "copying");
            out << std::left << std::setw(7) << head_name(l, h) << std::right << std::setw(12)
                << (prev.data.empty() ? "-" : format_score(at2(prev, l, h))) << std::setw(11)
                << (ind.data.empty() ? "-" : format_score(at2(ind, l, h))) << std::setw(12)
                << (ov.data.empty() ? "-" : format_score(at2(ov, l, h))) << "  " << std::left << std::setw(28) << partner
                << (cls.empty() ? "-" : cls) << "\n";
        }
}

template <typename T>
T positive(const po::variables_map& vm, const char* name, T min) {
    const T v = vm[name].as<T>();
    if (v < min) {
        std::ostringstream os;
        os << "--" << name << " must be >= " << min << ", got " << v;
        throw UsageError(os.str());
    }
    return v;
}

double finite(const po::variables_map& vm, const char* name) {
    const double v = vm[name].as<double>();
    if (!std::isfinite(v)) throw UsageError(std::string("--") + name + " must be a finite number");
    return v;
}

int run_analyze(const po::variables_map& vm, std::ostream& out, std::ostream& err) {
    const auto model_path = vm["model"].as<std::string>();
    const std::string output = vm.count("output") ? vm["output"].as<std::string>() : default_output(model_path);
    const bool timings = vm.count("timings") > 0;

    std::vector<const analyses::Pass*> selected;
    std::vector<std::string> selected_names;
    const auto requested = split_list(vm["passes"].as<std::string>());
    if (requested.empty()) throw UsageError("--passes is empty (known passes: " + pass_names() + ")");
    for (const auto& p : analyses::passes())  // run in registry order, each once
        if (std::find(requested.begin(), requested.end(), p.name) != requested.end()) {
            selected.push_back(&p);
            selected_names.push_back(p.name);
        }
    for (const auto& name : requested)
        if (!analyses::find_pass(name))
            throw UsageError("unknown pass '" + name + "' (known passes: " + pass_names() + ")");

    analyses::AnalysisOptions o;
    o.top_k = positive<int>(vm, "top-k", 1);
    o.seed = vm["seed"].as<std::uint64_t>();
    o.baseline_samples = positive<int>(vm, "baseline-samples", 2);
    o.induction_threshold = finite(vm, "induction-threshold");
    o.prev_token_threshold = finite(vm, "prev-token-threshold");
    o.copying_threshold = finite(vm, "copying-threshold");
    o.probe_length = positive<int>(vm, "probe-length", 2);
    o.probe_repeats = positive<int>(vm, "probe-repeats", 2);
    o.probe_sequences = positive<int>(vm, "probe-sequences", 1);
    o.max_order = positive<int>(vm, "max-order", 1);
    const int threads = positive<int>(vm, "threads", 0);

    // --timings: wall-clock and CPU seconds (all threads) of each step; CPU time is what a loaded machine
    // does not distort.
    auto step_start = Clock::now();
    double step_cpu = process_cpu_seconds();
    auto report = [&](const std::string& step) {
        if (timings)
            err << "timing: " << step << " " << std::fixed << std::setprecision(3) << seconds_since(step_start)
                << " s wall, " << process_cpu_seconds() - step_cpu << " s cpu\n";
        err.unsetf(std::ios::fixed);
        step_start = Clock::now();
        step_cpu = process_cpu_seconds();
    };
    // Forward passes allocate [T, d_vocab] logits again and again: keep freed blocks in the heap instead of
    // returning them to the system and faulting fresh pages in for each (glibc; a no-op elsewhere).
    ::mallopt(M_MMAP_THRESHOLD, 1 << 30);
    ::mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
    const auto total_start = Clock::now();
    const double total_cpu = process_cpu_seconds();
    // The model file's hash is computed while the model loads.
    auto sha = std::async(std::launch::async, [&] { return analyses::sha256_file(model_path); });
    // Weight-based passes read processed weights (LayerNorm folded); the processing keeps the logits,
    // so behavioural passes on the same model still run the real forward pass. The unprocessed copy
    // is not kept (peak memory).
    const Model model = process_for_analysis(load_model(model_path));
    for (const auto& step : model.weight_processing)
        if (step == "ln_not_folded_shortformer")
            err << "circuits: note: " << model_path
                << ": LayerNorm not folded (shortformer positions join queries and keys after ln1); weight-based "
                   "scores read the unfolded weights\n";
    if (vm.count("tokens")) {
        o.tokens_source = vm["tokens"].as<std::string>();
        o.tokens = analyses::read_token_file(model, o.tokens_source);
    }
    const std::string model_sha = sha.get();
    report("load");

    {
        AtomicOutput file(output);
        H5Writer w(file.temp_path());
        analyses::write_results_header(w, {model_path, model_sha, selected_names, model.weight_processing});
        analyses::write_analysis_options(w, o);
        analyses::PassContext context(model, o, threads);
        // Parts of a pass (path_expansion.terms, .ablation) are timed from the pass's start or the
        // previous part's end, without restarting the pass's own timer.
        auto part_start = Clock::now();
        double part_cpu = process_cpu_seconds();
        if (timings)
            context.on_step = [&](const std::string& step) {
                err << "timing: " << step << " " << std::fixed << std::setprecision(3) << seconds_since(part_start)
                    << " s wall, " << process_cpu_seconds() - part_cpu << " s cpu\n";
                err.unsetf(std::ios::fixed);
                part_start = Clock::now();
                part_cpu = process_cpu_seconds();
            };
        if (std::any_of(selected.begin(), selected.end(), [](const analyses::Pass* p) { return p->uses_grams; })) {
            Progress progress(err, "embedding Gram matrices");
            context.grams();
            report("embedding_grams");
        }
        for (const auto* p : selected) {
            part_start = Clock::now();
            part_cpu = process_cpu_seconds();
            Progress progress(err, p->name);
            p->run(context, w);
            report(p->name);
        }
        w.close();
        file.commit();
        report("write");
    }
    if (timings)
        err << "timing: total " << std::fixed << std::setprecision(3) << seconds_since(total_start) << " s wall, "
            << process_cpu_seconds() - total_cpu << " s cpu\n";
    err.unsetf(std::ios::fixed);
    print_summary(output, model.cfg, out);
    out << "wrote " << output << "\n";
    if (vm.count("report")) {
        const auto dir = vm["report"].as<std::string>();
        const auto summary = reports::write_report(output, dir);
        for (const auto& n : summary.notes) err << "report: " << n << "\n";
        out << "wrote " << dir << "/index.html (" << summary.head_pages << " head pages)\n";
    }
    return 0;
}

}  // namespace

Command analyze_command() {
    return {"analyze",
            "run the analysis passes on a model and write a results file",
            "circuits analyze MODEL [-o RESULTS] [--passes LIST] [--top-k K] [--seed S] [--threads N] [--tokens FILE]\n"
            "       [--baseline-samples N] [--induction-threshold X] [--probe-length N] [--probe-repeats R]\n"
            "       [--probe-sequences N] [--prev-token-threshold X] [--copying-threshold X] [--max-order K] [--timings] [--report DIR]",
            "Runs the analysis passes on the model and writes one group per pass to an HDF5 results file\n"
            "(written under a temporary name and renamed into place; nothing is left on failure). Passes, in\n"
            "the order they run: " + pass_names() + ".\n"
                "Weight-based passes read the weights after TransformerLens-style processing (LayerNorm folded,\n"
                "writing weights centred), recorded in the root attribute weight_processing; behavioural passes\n"
                "run the forward pass.\n"
                "Prints a per-head table: previous-token and induction scores, OV copying, the strongest earlier\n"
                "K-composition partner (composition z-score, or the induction pass's trace score) and the\n"
                "classification. Long passes show progress on stderr when it is a terminal.",
            "circuits analyze data/models/planted-2l.h5 -o planted.results.h5 --passes induction,path_expansion",
            [](po::options_description& opts, po::positional_options_description& pos) {
                opts.add_options()("model", po::value<std::string>()->required(), "model file")(
                    "output,o", po::value<std::string>(),
                    "results file (default: MODEL with .h5 replaced by .results.h5)")(
                    "passes", po::value<std::string>()->default_value(pass_names()), "comma-separated passes to run")(
                    "top-k", po::value<int>()->default_value(10), "top entries kept per row (bigram, circuits)")(
                    "seed", po::value<std::uint64_t>()->default_value(0), "seed of the probe tokens and random baselines")(
                    "threads", po::value<int>()->default_value(0), "worker threads (0 = every core)")(
                    "tokens", po::value<std::string>(),
                    "token set for the path ablation: one sequence of token strings per line (default: the induction "
                    "probe)")(
                    "baseline-samples", po::value<int>()->default_value(1000),
                    "random draws per composition baseline")(
                    "induction-threshold", po::value<double>()->default_value(0.4, "0.4"),
                    "induction head: induction score >= X (and OV copying > 0)")(
                    "prev-token-threshold", po::value<double>()->default_value(0.4, "0.4"),
                    "previous-token head: previous-token score >= X")(
                    "copying-threshold", po::value<double>()->default_value(0.5, "0.5"),
                    "copying head: OV copying >= X (and copying_eval > 0)")(
                    "probe-length", po::value<int>()->default_value(25),
                    "induction probe: random tokens per repeat (shrunk to fit n_ctx after the repeats)")(
                    "probe-repeats", po::value<int>()->default_value(4), "induction probe: repeats of the block (fewer, down to 2, where n_ctx is short)")(
                    "probe-sequences", po::value<int>()->default_value(10), "induction probe: sequences averaged")(
                    "max-order", po::value<int>()->default_value(2), "path expansion: longest chain of heads")(
                    "timings", "print each step's wall-clock seconds on stderr")(
                    "report", po::value<std::string>(), "also write the HTML report of the results into DIR");
                pos.add("model", 1);
            },
            run_analyze};
}

}  // namespace circuits::cli
