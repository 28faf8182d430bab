// Fuzz target of the results reader: a (mutated) results file rendered as the HTML report, which
// reads every group the pages show through reports::ResultsReader.
#include <filesystem>

#include "analyses/run.hpp"
#include "reports/report.hpp"
#include "reports/results_reader.hpp"
#include "tests/fuzz/targets/fuzz_targets.hpp"
#include "tests/fuzz/targets/scratch.hpp"

namespace circuits::fuzz {

namespace {

const std::string kModel = CIRCUITS_SOURCE_DIR "/data/models/compiled/count.h5";

// Reads what the report does not: root attributes, groups, scalars of every group.
void read_everything(const std::string& path) {
    const reports::ResultsReader r(path);
    r.root_attributes();
    for (const auto& g : r.groups()) r.attr_text(g, "passes");
    r.head_scores();
    for (const char* kind : {"q", "k", "v"}) r.composition(kind);
}

}  // namespace

bool fuzz_results(const std::uint8_t* data, std::size_t size) {
    const std::string path = scratch_file("input-results.h5", data, size);
    const bool read = rejecting([&] { read_everything(path); });
    const bool reported = rejecting([&] {
        reports::ReportOptions options;
        options.model_path = kModel;
        reports::write_report(path, scratch_dir() + "/report", options);
    });
    return read && reported;
}

void seed_results(const std::string& source_dir, const std::string& dir) {
    // Every pass, and the induction pass alone (a file with groups missing), both of kModel: the
    // report is drawn with that model.
    for (const bool all : {true, false}) {
        analyses::AnalysisRequest request;
        request.model_path = source_dir + "/data/models/compiled/count.h5";
        request.output_path = dir + (all ? "/count-all.h5" : "/count-induction.h5");
        request.threads = 1;
        for (const auto& p : analyses::passes())
            if (all || std::string(p.name) == "induction") request.passes.push_back(p.name);
        analyses::RunObserver quiet;
        analyses::run_analysis(request, quiet);
    }
}

}  // namespace circuits::fuzz
