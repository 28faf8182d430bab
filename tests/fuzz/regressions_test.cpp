// The fuzz targets in the normal test suite: every file in tests/fuzz/regressions/<target>/ (an
// input a fuzzer once crashed on) is replayed through its target, and every seed is accepted.
#include <filesystem>

#include "tests/fuzz/targets/fuzz_targets.hpp"
#include "tests/fuzz/targets/scratch.hpp"
#include "tests/test_util.hpp"

namespace fs = std::filesystem;
using namespace circuits::fuzz;

namespace {

const fs::path kRegressions = fs::path(CIRCUITS_SOURCE_DIR) / "tests/fuzz/regressions";

// Runs one input through its target; a non-Error exception is reported with the file's name.
bool replay(const FuzzTarget& target, const fs::path& file) {
    const std::string bytes = read_bytes(file.string());
    return target.run(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
}

}  // namespace

TEST_CASE("fuzz regressions: every input a fuzzer crashed on is now handled (no crash, only circuits::Error)") {
    int replayed = 0;
    for (const auto& target : fuzz_targets()) {
        const fs::path dir = kRegressions / target.name;
        if (!fs::exists(dir)) continue;
        for (const auto& entry : fs::directory_iterator(dir)) {
            if (!entry.is_regular_file() || entry.path().filename() == "README.md") continue;
            INFO(target.name << ": " << entry.path().string());
            CHECK_NOTHROW(replay(target, entry.path()));
            ++replayed;
        }
    }
    MESSAGE("replayed " << replayed << " fuzz regression inputs");
}

TEST_CASE("fuzz regressions: each folder is named after a fuzz target") {
    if (!fs::exists(kRegressions)) return;
    for (const auto& entry : fs::directory_iterator(kRegressions)) {
        if (!entry.is_directory()) continue;
        INFO(entry.path().string());
        CHECK_NOTHROW(find_fuzz_target(entry.path().filename().string()));
    }
}

TEST_CASE("fuzz seeds: every target accepts every file of its seed corpus (the fuzzer starts from real inputs)") {
    circuits::test::TempDir tmp;
    for (const auto& target : fuzz_targets()) {
        const fs::path dir = tmp.path() / target.name;
        fs::create_directories(dir);
        target.seeds(CIRCUITS_SOURCE_DIR, dir.string());
        int seeds = 0;
        for (const auto& entry : fs::directory_iterator(dir)) {
            INFO(target.name << ": " << entry.path().string());
            CHECK(fs::file_size(entry.path()) <= target.max_len);
            CHECK(replay(target, entry.path()));
            ++seeds;
        }
        CHECK_MESSAGE(seeds >= 2, target.name << " has " << seeds << " seeds");
    }
}
