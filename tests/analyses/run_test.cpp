// Tests of the analysis run (analyses/run.hpp) and of the per-pass options derived from
// AnalysisOptions: the planted heads in the summary, the steps reported, nothing left on failure.
#include "analyses/run.hpp"

#include "lib/error.hpp"
#include "lib/hdf5.hpp"
#include "lib/results_schema.hpp"
#include "tests/test_util.hpp"

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

namespace circuits::analyses {
namespace {

std::string planted_path() {
    return test::source_dir() + "/data/models/planted-2l.h5";
}

// Records what the run reports.
class Recorder : public RunObserver {
public:
    void step_started(const std::string& label) override { started.push_back(label); }
    void timed(const std::string& step, double wall_s, double cpu_s) override {
        CHECK(wall_s >= 0.0);
        CHECK(cpu_s >= 0.0);
        timed_steps.push_back(step);
    }
    std::vector<std::string> started, timed_steps;
};

// A run of `passes` on the planted model, writing into `dir`.
AnalysisRequest planted_request(const test::TempDir& dir, std::vector<std::string> passes) {
    AnalysisRequest request;
    request.model_path = planted_path();
    request.output_path = dir.file("r.h5");
    request.passes = std::move(passes);
    return request;
}

bool has(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

TEST_CASE("run_analysis: the summary names the planted previous-token and induction heads") {
    test::TempDir dir;
    auto request = planted_request(dir, {"induction", "composition"});  // run in registry order: composition first
    request.options.baseline_samples = 50;
    request.options.probe_sequences = 3;
    Recorder rec;
    const auto s = run_analysis(request, rec);
    REQUIRE(s.heads.size() == 4);
    CHECK(s.partner_score == "z");
    const auto& l0h0 = s.heads[0];
    const auto& l1h0 = s.heads[2];
    CHECK(l0h0.classes == std::vector<std::string>{"prev-token"});
    CHECK_FALSE(l0h0.partner);  // layer 0 has no earlier head
    CHECK(l1h0.classes == std::vector<std::string>{"induction", "copying"});
    REQUIRE(l1h0.partner);
    CHECK(l1h0.partner->layer == 0);
    CHECK(l1h0.partner->head == 0);
    REQUIRE(l1h0.induction);
    CHECK(*l1h0.induction > 0.9);
    CHECK(rec.started == std::vector<std::string>{"embedding Gram matrices", "composition", "induction"});
    for (const char* step : {"load", "embedding_grams", "composition", "induction", "write", "total"})
        CHECK_MESSAGE(has(rec.timed_steps, step), step);
    const H5Reader f(request.output_path);
    CHECK(f.attr_string("/", schema::root::attr::passes) == "composition,induction");
    CHECK(f.exists(schema::induction::prev_token));
    CHECK_FALSE(f.exists(schema::path::group));
}

TEST_CASE("run_analysis: without the induction pass the summary has no scores and no partners") {
    test::TempDir dir;
    const auto request = planted_request(dir, {"bigram"});
    RunObserver quiet;
    const auto s = run_analysis(request, quiet);
    CHECK(s.partner_score.empty());
    for (const auto& h : s.heads) {
        CHECK_FALSE(h.prev_token);
        CHECK_FALSE(h.partner);
        CHECK(h.classes.empty());
    }
}

TEST_CASE("run_analysis: an unknown pass or an unreadable model throws and leaves no results file") {
    test::TempDir dir;
    auto request = planted_request(dir, {"nonsense"});
    RunObserver quiet;
    CHECK_THROWS_AS(run_analysis(request, quiet), Error);
    request.passes = {"bigram"};
    request.model_path = dir.file("missing.h5");
    CHECK_THROWS_AS(run_analysis(request, quiet), Error);
    CHECK(std::filesystem::is_empty(dir.path()));
}

TEST_CASE("regression: per-pass option defaults do not drift from AnalysisOptions (defaults written once)") {
    const AnalysisOptions d;
    const auto ind = induction_options(d, 0);
    const InductionOptions ind0;
    CHECK(ind.probe_length == ind0.probe_length);
    CHECK(ind.probe_repeats == ind0.probe_repeats);
    CHECK(ind.probe_sequences == ind0.probe_sequences);
    CHECK(ind.seed == ind0.seed);
    CHECK(ind.induction_threshold == ind0.induction_threshold);
    CHECK(ind.prev_token_threshold == ind0.prev_token_threshold);
    CHECK(ind.copying_threshold == ind0.copying_threshold);
    const auto path = path_expansion_options(d, 0);
    const PathExpansionOptions path0;
    CHECK(path.max_order == path0.max_order);
    CHECK(path.probe_length == path0.probe_length);
    CHECK(path.probe_repeats == path0.probe_repeats);
    CHECK(path.probe_sequences == path0.probe_sequences);
    CHECK(composition_options(d, 0).baseline_samples == CompositionOptions{}.baseline_samples);
    CHECK(bigram_options(d, 0).top_k == BigramOptions{}.top_k);
    CHECK(circuits_options(d, 0).top_k == CircuitsOptions{}.top_k);
    CHECK(induction_options(d, 3).threads == 3);
}

}  // namespace
}  // namespace circuits::analyses
