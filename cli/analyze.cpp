// `circuits analyze MODEL`: runs the registered analysis passes, writes the results file atomically and
// prints a per-head summary table.
#include "cli/commands.hpp"
#include "cli/token_inputs.hpp"

#include "reports/report.hpp"

#include "analyses/registry.hpp"
#include "analyses/run.hpp"
#include "lib/error.hpp"

#include <malloc.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <iomanip>
#include <limits>
#include <mutex>
#include <optional>
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

// The per-head table of whatever the run's passes found ("-" for a pass that did not run).
void print_summary(const analyses::AnalysisSummary& s, std::ostream& out) {
    auto score = [](const std::optional<double>& v) { return v ? format_score(*v) : std::string("-"); };
    out << std::left << std::setw(7) << "head" << std::right << std::setw(12) << "prev-token" << std::setw(11)
        << "induction" << std::setw(12) << "OV copying" << "  " << std::left << std::setw(28)
        << "strongest K-comp partner" << "class\n";
    for (const auto& row : s.heads) {
        std::string partner = "-", cls;
        if (row.partner)
            partner = head_name(row.partner->layer, row.partner->head) + " (" + s.partner_score + " " +
                      format_score(row.partner->score) + ")";
        for (const auto& c : row.classes) cls += (cls.empty() ? "" : "+") + c;
        out << std::left << std::setw(7) << head_name(row.layer, row.head) << std::right << std::setw(12)
            << score(row.prev_token) << std::setw(11) << score(row.induction) << std::setw(12) << score(row.ov_copying)
            << "  " << std::left << std::setw(28) << partner << (cls.empty() ? "-" : cls) << "\n";
    }
}

// Progress on a terminal, notes, and with --timings each step's seconds, all on stderr.
class CliObserver : public analyses::RunObserver {
public:
    CliObserver(std::ostream& err, bool timings) : m_err(err), m_timings(timings) {}
    void step_started(const std::string& label) override { m_progress.emplace(m_err, label); }
    void step_finished() override { m_progress.reset(); }
    void timed(const std::string& step, double wall_s, double cpu_s) override {
        if (m_timings)
            m_err << "timing: " << step << " " << std::fixed << std::setprecision(3) << wall_s << " s wall, " << cpu_s
                  << " s cpu\n";
        m_err.unsetf(std::ios::fixed);
    }
    void note(const std::string& message) override { m_err << "circuits: note: " << message << "\n"; }

private:
    std::ostream& m_err;
    bool m_timings;
    std::optional<Progress> m_progress;
};

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

// --passes as names, checked against the registry.
std::vector<std::string> requested_passes(const po::variables_map& vm) {
    const auto requested = split_list(vm["passes"].as<std::string>());
    if (requested.empty()) throw UsageError("--passes is empty (known passes: " + pass_names() + ")");
    for (const auto& name : requested)
        if (!analyses::find_pass(name))
            throw UsageError("unknown pass '" + name + "' (known passes: " + pass_names() + ")");
    return requested;
}

analyses::AnalysisOptions analysis_options(const po::variables_map& vm) {
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
    return o;
}

int run_analyze(const po::variables_map& vm, std::ostream& out, std::ostream& err) {
    analyses::AnalysisRequest request;
    request.model_path = vm["model"].as<std::string>();
    request.output_path = vm.count("output") ? vm["output"].as<std::string>() : default_output(request.model_path);
    request.passes = requested_passes(vm);
    request.options = analysis_options(vm);
    request.threads = positive<int>(vm, "threads", 0);
    if (vm.count("tokens")) request.tokens_file = vm["tokens"].as<std::string>();

    // Forward passes allocate [T, d_vocab] logits again and again: keep freed blocks in the heap instead of
    // returning them to the system and faulting fresh pages in for each (glibc; a no-op elsewhere).
    ::mallopt(M_MMAP_THRESHOLD, 1 << 30);
    ::mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
    CliObserver observer(err, vm.count("timings") > 0);
    const auto summary = analyses::run_analysis(request, observer);
    print_summary(summary, out);
    out << "wrote " << request.output_path << "\n";
    if (vm.count("report")) {
        const auto dir = vm["report"].as<std::string>();
        reports::ReportOptions o;
        if (!request.tokens_file.empty()) {
            const auto file = request.tokens_file;
            o.inputs_from_model = [file](const Model& m) { return token_inputs(m, file); };
        }
        const auto report = reports::write_report(request.output_path, dir, o);
        for (const auto& n : report.notes) err << "report: " << n << "\n";
        out << "wrote " << dir << "/index.html (" << report.head_pages << " head pages)\n";
    }
    return 0;
}

// A default as --help shows it: the shortest text that reads back as the value ("0.4", not 0.40000000000000002).
std::string default_text(double v) {
    std::ostringstream os;
    os << v;
    return os.str();
}

void add_analyze_options(po::options_description& opts, po::positional_options_description& pos) {
    const analyses::AnalysisOptions d;
    const analyses::AnalysisRequest run;
    opts.add_options()("model", po::value<std::string>()->required(), "model file")(
        "output,o", po::value<std::string>(), "results file (default: MODEL with .h5 replaced by .results.h5)")(
        "passes", po::value<std::string>()->default_value(pass_names()), "comma-separated passes to run")(
        "top-k", po::value<int>()->default_value(d.top_k), "top entries kept per row (bigram, circuits)")(
        "seed", po::value<std::uint64_t>()->default_value(d.seed), "seed of the probe tokens and random baselines")(
        "threads", po::value<int>()->default_value(run.threads), "worker threads (0 = every core)")(
        "tokens", po::value<std::string>(),
        "token set for the path ablation and, with --report, the attention viewer: one sequence of token "
        "strings per line (default: the induction probe)")("baseline-samples", po::value<int>()->default_value(d.baseline_samples),
                  "random draws per composition baseline")(
        "induction-threshold",
        po::value<double>()->default_value(d.induction_threshold, default_text(d.induction_threshold)),
        "induction head: induction score >= X (and OV copying > 0)")(
        "prev-token-threshold",
        po::value<double>()->default_value(d.prev_token_threshold, default_text(d.prev_token_threshold)),
        "previous-token head: previous-token score >= X")(
        "copying-threshold", po::value<double>()->default_value(d.copying_threshold, default_text(d.copying_threshold)),
        "copying head: OV copying >= X (and copying_eval > 0)")(
        "probe-length", po::value<int>()->default_value(d.probe_length),
        "induction probe: random tokens per repeat (shrunk to fit n_ctx after the repeats)")(
        "probe-repeats", po::value<int>()->default_value(d.probe_repeats),
        "induction probe: repeats of the block (fewer, down to 2, where n_ctx is short)")(
        "probe-sequences", po::value<int>()->default_value(d.probe_sequences), "induction probe: sequences averaged")(
        "max-order", po::value<int>()->default_value(d.max_order), "path expansion: longest chain of heads")(
        "timings", "print each step's wall-clock seconds on stderr")(
        "report", po::value<std::string>(), "also write the HTML report of the results into DIR");
    pos.add("model", 1);
}

}  // namespace

Command analyze_command() {
    return {"analyze",
            "run the analysis passes on a model and write a results file",
            "circuits analyze MODEL [-o RESULTS] [--passes LIST] [--top-k K] [--seed S] [--threads N] [--tokens FILE]\n"
            "       [--baseline-samples N] [--induction-threshold X] [--probe-length N] [--probe-repeats R]\n"
            "       [--probe-sequences N] [--prev-token-threshold X] [--copying-threshold X] [--max-order K] "
            "[--timings] [--report DIR]",
            "Runs the analysis passes on the model and writes one group per pass to an HDF5 results file\n"
            "(written under a temporary name and renamed into place; nothing is left on failure). Passes, in\n"
            "the order they run: " +
                pass_names() +
                ".\n"
                "Weight-based passes read the weights after TransformerLens-style processing (LayerNorm folded,\n"
                "writing weights centred), recorded in the root attribute weight_processing; behavioural passes\n"
                "run the forward pass.\n"
                "Prints a per-head table: previous-token and induction scores, OV copying, the strongest earlier\n"
                "K-composition partner (composition z-score, or the induction pass's trace score) and the\n"
                "classification. Long passes show progress on stderr when it is a terminal.",
            "circuits analyze data/models/planted-2l.h5 -o planted.results.h5 --passes induction,path_expansion",
            add_analyze_options,
            run_analyze};
}

}  // namespace circuits::cli
