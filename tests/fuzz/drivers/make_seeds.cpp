// circuits_fuzz_seeds: writes each fuzz target's seed corpus from the bundled files, or lists the
// targets with their -max_len, for scripts/fuzz.sh.
#include <filesystem>
#include <iostream>

#include "tests/fuzz/targets/fuzz_targets.hpp"

int main(int argc, char** argv) {
    using namespace circuits::fuzz;
    const std::string usage = "usage: circuits_fuzz_seeds --list | SOURCE_DIR OUT_DIR [TARGET...]";
    try {
        if (argc == 2 && std::string(argv[1]) == "--list") {
            for (const auto& t : fuzz_targets()) std::cout << t.name << " " << t.max_len << "\n";
            return 0;
        }
        if (argc < 3) {
            std::cerr << usage << "\n";
            return 2;
        }
        std::vector<const FuzzTarget*> chosen;
        for (int i = 3; i < argc; ++i) chosen.push_back(&find_fuzz_target(argv[i]));
        if (chosen.empty())
            for (const auto& t : fuzz_targets()) chosen.push_back(&t);
        for (const FuzzTarget* t : chosen) {
            const std::string dir = std::string(argv[2]) + "/" + t->name;
            std::filesystem::create_directories(dir);
            t->seeds(argv[1], dir);
        }
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "circuits_fuzz_seeds: error: " << e.what() << "\n";
        return 1;
    }
}
