// The commands the fault tests interrupt, each with the output it writes and a check that an
// output at that path is complete (readable by the library's own reader).
#pragma once
#include <string>
#include <vector>

namespace circuits::test {

struct FaultCommand {
    std::string name;                                    // "analyze"
    std::vector<std::string> (*args)(const std::string& target);  // its arguments writing `target`
    bool (*complete)(const std::string& target);         // the output at `target` reads back whole
};

// analyze, train, compile, compare (small inputs: each runs well under a second in Release).
const std::vector<FaultCommand>& fault_commands();

// Every byte of a file, or of every file under a folder (sorted by relative path), for
// "the previous output survives intact".
std::string snapshot(const std::string& path);

// Entries beside `target` left by its writers (`<target>.tmp-*`).
std::vector<std::string> leftover_temporaries(const std::string& target);

}  // namespace circuits::test
