// The table of fuzz targets.
#include "tests/fuzz/targets/fuzz_targets.hpp"

#include "lib/error.hpp"

namespace circuits::fuzz {

const std::vector<FuzzTarget>& fuzz_targets() {
    // max_len: the seeds' size plus room to grow (the HDF5 seeds are 25-35 kB).
    static const std::vector<FuzzTarget> targets = {
        {"safetensors", fuzz_safetensors, seed_safetensors, 64 * 1024},
        {"config_json", fuzz_config_json, seed_config_json, 16 * 1024},
        {"hdf5_model", fuzz_hdf5_model, seed_hdf5_model, 64 * 1024},
        {"results", fuzz_results, seed_results, 256 * 1024},
        {"rasp", fuzz_rasp, seed_rasp, 4 * 1024},
        {"tokens", fuzz_tokens, seed_tokens, 4 * 1024},
    };
    return targets;
}

const FuzzTarget& find_fuzz_target(const std::string& name) {
    for (const auto& t : fuzz_targets())
        if (name == t.name) return t;
    throw Error("no fuzz target '" + name + "'");
}

}  // namespace circuits::fuzz
