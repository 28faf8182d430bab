// `circuits report RESULTS [-o DIR]`: the per-head HTML report of a results file.
#include "cli/commands.hpp"

#include "cli/token_inputs.hpp"
#include "reports/report.hpp"

#include <ostream>

namespace circuits::cli {

namespace po = boost::program_options;


Command report_command() {
    return {"report",
            "write the per-head HTML report of a results file",
            "circuits report RESULTS [-o DIR] [--model MODEL] [--rows N] [--top-k K] [--tokens FILE] [--edge-z Z] [--png]",
            "Renders RESULTS (written by 'circuits analyze') as HTML with inline SVG and one local script\n"
            "(DIR/report.js), readable from file:// with no network: DIR/index.html (model, per-head score\n"
            "grids, composition graph and heatmaps, path terms, classified heads, training curves),\n"
            "DIR/heads/L{l}H{h}.html (scores, top-k QK and OV tables, skip-trigrams, OV eigenvalues,\n"
            "positional QK, the attention viewer, composition partners), DIR/layers/L{l}.html (the viewer\n"
            "over every head of a layer) and DIR/summary.md. The viewer shows the induction probe and each\n"
            "sequence of --tokens FILE (token strings of the model's vocabulary separated by white space,\n"
            "one sequence per line; BOS is prepended). Every figure has a 'download SVG' button; --png also\n"
            "writes DIR/png/*.png of the main figures through headless Chromium (exit 1 when it is not\n"
            "installed). Groups absent from the results file are left out with a note. The model file named\n"
            "in the results (root attribute model_path, or --model) gives the config, token strings and\n"
            "the attention. DIR is replaced atomically; it defaults to RESULTS without its extension plus\n"
            "'-report'.",
            "circuits report results.h5 -o report",
            [](po::options_description& opts, po::positional_options_description& pos) {
                const reports::ReportOptions d;
                opts.add_options()("results", po::value<std::string>()->required(), "results file")(
                    "output,o", po::value<std::string>(), "report folder (default: RESULTS-report)")(
                    "model", po::value<std::string>(), "model file (default: the one named in the results)")(
                    "rows", po::value<int>()->default_value(d.max_token_rows),
                    "token-table rows per head (larger vocabularies show the strongest)")(
                    "top-k", po::value<int>()->default_value(d.max_top_k), "columns of the top-k tables")(
                    "probe-length", po::value<int>()->default_value(d.probe_length),
                    "distinct tokens of the probe sequence (shown twice)")(
                    "probe-seed", po::value<std::uint64_t>()->default_value(d.probe_seed), "seed of the probe sequence")(
                    "tokens", po::value<std::string>(),
                    "token sequences for the attention viewer: token strings, one sequence per line")(
                    "edge-z", po::value<double>()->default_value(d.edge_z, "3"),
                    "composition graph: z-score an edge needs")(
                    "png", "also write PNGs of the main figures to DIR/png (needs chromium)");
                pos.add("results", 1);
            },
            [](const po::variables_map& vm, std::ostream& out, std::ostream& err) {
                const auto results = vm["results"].as<std::string>();
                const auto dir = vm.count("output") ? vm["output"].as<std::string>() : reports::default_report_dir(results);
                reports::ReportOptions o;
                if (vm.count("model")) o.model_path = vm["model"].as<std::string>();
                o.max_token_rows = vm["rows"].as<int>();
                o.max_top_k = vm["top-k"].as<int>();
                o.probe_length = vm["probe-length"].as<int>();
                o.probe_seed = vm["probe-seed"].as<std::uint64_t>();
                o.edge_z = vm["edge-z"].as<double>();
                o.png = vm.count("png") > 0;
                if (vm.count("tokens")) {
                    const auto file = vm["tokens"].as<std::string>();
                    o.inputs_from_model = [file](const Model& m) { return token_inputs(m, file); };
                }
                const auto summary = reports::write_report(results, dir, o);
                for (const auto& n : summary.notes) err << "note: " << n << "\n";
                out << "wrote " << summary.out_dir << "/index.html, summary.md and " << summary.head_pages
                    << " head pages";
                if (summary.pngs > 0) out << ", " << summary.pngs << " PNGs in " << summary.out_dir << "/png";
                out << "\n";
                return 0;
            }};
}

}  // namespace circuits::cli
