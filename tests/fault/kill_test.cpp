// SIGKILL at random moments: analyze, train, compile and compare never leave a partial file at
// their target path, and the previous output there survives byte for byte.
#include <filesystem>
#include <random>

#include "tests/fault/child_process.hpp"
#include "tests/fault/outputs.hpp"
#include "tests/test_util.hpp"

namespace fs = std::filesystem;
using namespace circuits::test;

namespace {

constexpr int kKillsPerCommand = 12;

// Kills `command` kKillsPerCommand times at moments spread uniformly over one uninterrupted run's
// duration (and a little past it); returns how many runs were killed before they ended.
int kill_repeatedly(const FaultCommand& command, std::mt19937& rng) {
    TempDir tmp;
    const std::string target = tmp.file(command.name == "compare" ? "out" : "out.h5");
    const ChildResult first = run_child(command.args(target));
    REQUIRE_MESSAGE(first.exit_status == 0, command.name << " failed uninterrupted");
    REQUIRE(command.complete(target));
    const std::string previous = snapshot(target);
    std::uniform_real_distribution<double> moment(0.0, 1.1 * first.seconds);
    int killed = 0;
    for (int i = 0; i < kKillsPerCommand; ++i) {
        const auto delay = std::chrono::microseconds(static_cast<long>(1e6 * moment(rng)));
        const ChildResult r = kill_child_after(command.args(target), delay);
        INFO(command.name << " kill " << i << " after " << delay.count() << " us (killed: " << r.killed << ")");
        killed += r.killed;
        if (!r.killed) CHECK(r.exit_status == 0);
        // Either the old output untouched or a complete new one: never a mixture, never nothing.
        REQUIRE(fs::exists(target));
        const bool unchanged = snapshot(target) == previous;
        CHECK((unchanged || command.complete(target)));
        // A killed run leaves its temporary; the next run removes those of dead processes.
        CHECK(leftover_temporaries(target).size() <= 1);
    }
    return killed;
}

}  // namespace

TEST_CASE("fault: SIGKILL at random moments never leaves a partial output and keeps the previous one") {
    std::mt19937 rng(16);
    int kills = 0, runs = 0;
    for (const auto& command : fault_commands()) {
        const int k = kill_repeatedly(command, rng);
        CHECK_MESSAGE(k >= kKillsPerCommand / 3, command.name << ": only " << k << " runs were killed mid-way");
        kills += k;
        runs += kKillsPerCommand;
    }
    MESSAGE("fault kills: " << kills << " of " << runs << " runs killed mid-way, every target intact");
}
