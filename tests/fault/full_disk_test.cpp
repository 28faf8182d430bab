// A full disk (RLIMIT_FSIZE with SIGXFSZ ignored: writes fail with EFBIG): every writing command
// fails with a clear error and exit status 1, leaves no partial output, and keeps the previous one.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/fault/child_process.hpp"
#include "tests/fault/outputs.hpp"
#include "tests/test_util.hpp"

namespace fs = std::filesystem;
using namespace circuits::test;

namespace {

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

void check_full_disk(const FaultCommand& command, bool with_previous) {
    TempDir tmp;
    const std::string target = tmp.file(command.name == "compare" ? "out" : "out.h5");
    std::string previous;
    if (with_previous) {
        REQUIRE(run_child(command.args(target)).exit_status == 0);
        previous = snapshot(target);
    }
    ChildOptions options;
    options.file_size_limit = 2048;  // smaller than any of the outputs
    options.output_file = tmp.file("stderr.txt");
    const ChildResult r = run_child(command.args(target), options);
    const std::string err = read_text(options.output_file);
    INFO(command.name << " (previous output: " << with_previous << ") said: " << err);
    CHECK(r.exit_status == 1);
    CHECK(err.find("circuits: error: ") != std::string::npos);
    CHECK(err.find(target) != std::string::npos);  // the message names the output
    if (with_previous)
        CHECK(snapshot(target) == previous);
    else
        CHECK_FALSE(fs::exists(target));
    CHECK(leftover_temporaries(target).empty());
}

}  // namespace

TEST_CASE("fault: a full disk gives a clear error, exit status 1 and no partial output") {
    for (const auto& command : fault_commands()) {
        check_full_disk(command, false);
        check_full_disk(command, true);
    }
}
