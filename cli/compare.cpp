// `circuits compare MODEL_A MODEL_B`: head-by-head comparison, written as compare.h5 + index.html.
#include "cli/commands.hpp"

#include "analyses/compare.hpp"
#include "lib/error.hpp"
#include "lib/hdf5.hpp"
#include "lib/results_schema.hpp"
#include "lib/model_io.hpp"
#include "lib/rasp/evaluator.hpp"
#include "lib/rasp/program.hpp"
#include "reports/compare_page.hpp"

#include <filesystem>
#include <memory>
#include <ostream>

namespace circuits::cli {

namespace po = boost::program_options;

namespace {

int run_compare(const po::variables_map& vm, std::ostream& out, std::ostream&) {
    const auto path_a = vm["model-a"].as<std::string>();
    const auto path_b = vm["model-b"].as<std::string>();
    const auto dir = vm["output"].as<std::string>();
    const Model a = load_model(path_a), b = load_model(path_b);

    analyses::CompareOptions o;
    o.probe = vm["probe"].as<int>();
    o.seed = vm["seed"].as<std::uint64_t>();
    o.edge_z = vm["edge-z"].as<double>();
    o.max_len = vm["max-len"].as<int>();
    o.threads = vm["threads"].as<int>();
    o.baseline_samples = vm["baseline-samples"].as<int>();
    if (o.probe < 1) throw UsageError("--probe must be at least 1");
    if (o.baseline_samples < 2) throw UsageError("--baseline-samples must be at least 2");

    // The program: given, or stored in either model (compiled models carry their source).
    std::shared_ptr<rasp::Program> program;
    std::string program_name;
    if (vm.count("program")) {
        program_name = vm["program"].as<std::string>();
        program = std::make_shared<rasp::Program>(rasp::load_program(program_name));
    } else if (!a.program_source.empty() || !b.program_source.empty()) {
        const bool from_a = !a.program_source.empty();
        program_name = (from_a ? path_a : path_b) + ":/program/source";
        program = std::make_shared<rasp::Program>(
            rasp::parse_program(from_a ? a.program_source : b.program_source, program_name));
    }
    if (program) {
        if (o.max_len == 0 && program->max_len > 0) o.max_len = program->max_len;
        o.reference = [program](const std::vector<std::string>& input) {
            const auto values = rasp::evaluate(*program, rasp::tokens_from_strings(*program, input));
            std::vector<std::optional<std::string>> expected;
            for (const auto& v : values) expected.push_back(v.is_none() ? std::nullopt : std::optional(v.to_string()));
            return expected;
        };
        for (const auto& v : program->vocab) o.probe_vocab.push_back(v.to_string());
    }

    const auto result = analyses::compute_compare(a, b, o);
    AtomicOutput output(dir);
    std::filesystem::create_directories(output.temp_path());
    const auto h5 = (std::filesystem::path(output.temp_path()) / "compare.h5").string();
    {
        H5Writer w(h5);
        namespace root = schema::compare::root_attr;
        w.attr("/", root::format, schema::compare::format_value);
        w.attr("/", root::format_version, schema::compare::format_version_value);
        w.attr("/", root::model_a, path_a);
        w.attr("/", root::model_b, path_b);
        if (program) w.attr("/", root::program, program_name);
        analyses::write(w, result);
        w.close();
    }
    reports::write_compare_page(h5, (std::filesystem::path(output.temp_path()) / "index.html").string());
    output.commit();

    out << "agreement " << result.agreement << " over " << result.n_positions << " positions";
    if (result.n_scored > 0) out << "; accuracy A " << result.accuracy_a << ", B " << result.accuracy_b;
    out << "\nmatched heads (A -> B, similarity: attention / QK / OV):\n";
    for (const auto& m : result.matching)
        out << "  L" << m.a.layer << "H" << m.a.head << " -> L" << m.b.layer << "H" << m.b.head << "  " << m.similarity
            << "  (" << m.attention << " / " << m.qk << " / " << m.ov << ")\n";
    for (const auto& h : result.unmatched_a) out << "  L" << h.layer << "H" << h.head << " of A unmatched\n";
    for (const auto& h : result.unmatched_b) out << "  L" << h.layer << "H" << h.head << " of B unmatched\n";
    out << "composition edges: " << result.edges_both.size() << " in both, " << result.edges_only_a.size()
        << " only in A, " << result.edges_only_b.size() << " only in B\n";
    out << "wrote " << dir << "/compare.h5 and " << dir << "/index.html\n";
    return 0;
}

}  // namespace

Command compare_command() {
    return {"compare",
            "compare two models head by head (e.g. compiled vs trained)",
            "circuits compare MODEL_A MODEL_B [-o DIR] [--probe N] [--program FILE.rasp]",
            "The two models must have the same input vocabulary (matched by token string); widths,\n"
            "layer and head counts may differ. On a probe set (the program's inputs when a program is\n"
            "given or stored in a model, random sequences otherwise) it measures the agreement of the\n"
            "two models' predictions and each one's accuracy against the program; for every pair of\n"
            "heads the attention similarity (mean over queries of 1 - Jensen-Shannon divergence) and\n"
            "the correlation of their token-space QK and OV circuits; an optimal one-to-one matching\n"
            "on the combined similarity; and which composition edges (z above --edge-z) correspond.\n"
            "Writes DIR/compare.h5 and DIR/index.html.",
            "circuits compare data/models/compiled/induction.h5 data/models/trained/induction-2l.h5 -o cmp",
            [](po::options_description& opts, po::positional_options_description& pos) {
                opts.add_options()("model-a", po::value<std::string>()->required(), "first model")(
                    "model-b", po::value<std::string>()->required(), "second model")(
                    "output,o", po::value<std::string>()->default_value("compare-report"), "output folder")(
                    "probe", po::value<int>()->default_value(200), "probe sequences")(
                    "program", po::value<std::string>(), "RASP program giving the expected outputs")(
                    "max-len", po::value<int>()->default_value(0), "longest probe input (0: program's or n_ctx)")(
                    "seed", po::value<std::uint64_t>()->default_value(0), "seed of the probe and baseline")(
                    "edge-z", po::value<double>()->default_value(3.0), "z-score above which a composition is an edge")(
                    "baseline-samples", po::value<int>()->default_value(200), "random-baseline samples")(
                    "threads", po::value<int>()->default_value(0), "threads (0: all cores)");
                pos.add("model-a", 1).add("model-b", 1);
            },
            run_compare};
}

}  // namespace circuits::cli
