// `circuits report RESULTS [-o DIR]`: the per-head HTML report of a results file.
#include "cli/commands.hpp"

#include "reports/report.hpp"

#include <ostream>

namespace circuits::cli {

namespace po = boost::program_options;

Command report_command() {
    return {"report",
            "write the per-head HTML report of a results file",
            "circuits report RESULTS [-o DIR] [--model MODEL] [--rows N] [--top-k K]",
            "Renders RESULTS (written by 'circuits analyze') as static HTML with inline SVG, readable\n"
            "from file:// without scripts or network: DIR/index.html (model, per-head score grids,\n"
            "composition heatmaps, path terms, classified heads), DIR/heads/L{l}H{h}.html (scores,\n"
            "top-k QK and OV tables, skip-trigrams, OV eigenvalues, positional QK, attention on a probe\n"
            "sequence, composition partners) and DIR/summary.md. Groups absent from the results file are\n"
            "left out with a note. The model file named in the results (root attribute model_path, or\n"
            "--model) gives the config, token strings and the probe attention. DIR is replaced\n"
            "atomically; it defaults to RESULTS without its extension plus '-report'.",
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
                    "probe-seed", po::value<std::uint64_t>()->default_value(d.probe_seed), "seed of the probe sequence");
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
                const auto summary = reports::write_report(results, dir, o);
                for (const auto& n : summary.notes) err << "note: " << n << "\n";
                out << "wrote " << summary.out_dir << "/index.html, summary.md and " << summary.head_pages
                    << " head pages\n";
                return 0;
            }};
}

}  // namespace circuits::cli
