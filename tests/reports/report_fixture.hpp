// Test fixtures for the reports: a small planted model with awkward token strings and a results file
// written here by hand following the contract names (independent of the analysis passes).
#pragma once

#include "lib/model.hpp"
#include "tests/test_util.hpp"

#include <set>
#include <string>

namespace circuits::test {

struct ReportFixtureOptions {
    // Groups of the results file to write.
    std::set<std::string> groups = {"bigram", "circuits", "eigen", "composition", "path", "induction"};
    bool write_model = true;  // false: the results name a model file that does not exist
    int top_k = 4;
    int qk_positions = 8;  // P of /circuits/qk_pos
    std::string program_source;  // set: the model is marked compiled with this program
};

struct ReportFixture {
    Model model;
    std::string model_path;
    std::string results_path;
};

// Token strings of the fixture model: index 1.. hold <, &, quotes, non-ASCII and a newline.
std::vector<std::string> awkward_vocab();

// Writes dir/model.h5 (the planted induction model, 6 tokens, n_ctx 16, awkward token strings) and
// dir/results.h5. Numbers: OV / QK tables, eigenvalues, positional QK, composition and path norms
// computed from the weights here; probe scores set by hand to what was planted (L0H0 previous-token,
// L1H0 induction and copying).
ReportFixture make_report_fixture(const TempDir& dir, const ReportFixtureOptions& options = {});

}  // namespace circuits::test
