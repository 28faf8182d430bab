// Fuzz targets of the model readers: safetensors (header, tensor table, tensors), config.json, and
// the HDF5 model file.
#include <filesystem>

#include "lib/config_json.hpp"
#include "lib/model_io.hpp"
#include "lib/safetensors.hpp"
#include "tests/fuzz/targets/fuzz_targets.hpp"
#include "tests/fuzz/targets/scratch.hpp"

namespace circuits::fuzz {

namespace {

namespace fs = std::filesystem;

// The small bundled models the seeds are made from (a few tens of kB each).
const char* const kSeedModels[] = {"count", "hist", "length", "shift_by", "frac_prevs"};

std::string bundled_model(const std::string& source_dir, const std::string& name) {
    return source_dir + "/data/models/compiled/" + name + ".h5";
}

// A valid safetensors file and config.json (the bundled count model), written once per process:
// the partner each target pairs its fuzzed half with.
struct Reference {
    std::string tensors, config;
};

const Reference& reference() {
    static const Reference r = [] {
        Reference ref{scratch_dir() + "/reference.safetensors", scratch_dir() + "/reference.json"};
        write_model_safetensors(read_model_h5(bundled_model(CIRCUITS_SOURCE_DIR, "count")), ref.tensors, ref.config);
        return ref;
    }();
    return r;
}

}  // namespace

bool fuzz_safetensors(const std::uint8_t* data, std::size_t size) {
    const Reference& ref = reference();
    const std::string path = scratch_file("input.safetensors", data, size);
    const bool opened = rejecting([&] {
        const SafetensorsFile file(path);
        for (const auto& entry : file.entries()) rejecting([&] { file.read(entry.first); });
    });
    // The seeds are other models than the reference config's: the model read is expected to fail.
    rejecting([&] { read_model_safetensors(path, ref.config); });
    return opened;
}

bool fuzz_config_json(const std::uint8_t* data, std::size_t size) {
    const Reference& ref = reference();
    const std::string path = scratch_file("input.json", data, size);
    // The config is parsed in full before the tensors are matched against it.
    const bool parsed = rejecting([&] { ConfigJson{path}; });
    rejecting([&] { read_model_safetensors(ref.tensors, path); });
    return parsed;
}

bool fuzz_hdf5_model(const std::uint8_t* data, std::size_t size) {
    const std::string path = scratch_file("input.h5", data, size);
    return rejecting([&] { read_model_h5(path); });
}

void seed_safetensors(const std::string& source_dir, const std::string& dir) {
    for (const char* name : kSeedModels) {
        const std::string base = dir + "/" + name;
        write_model_safetensors(read_model_h5(bundled_model(source_dir, name)), base + ".safetensors",
                                scratch_dir() + "/seed.json");
    }
}

void seed_config_json(const std::string& source_dir, const std::string& dir) {
    for (const char* name : kSeedModels)
        write_model_safetensors(read_model_h5(bundled_model(source_dir, name)), scratch_dir() + "/seed.safetensors",
                                dir + "/" + name + ".json");
}

void seed_hdf5_model(const std::string& source_dir, const std::string& dir) {
    for (const char* name : kSeedModels) fs::copy_file(bundled_model(source_dir, name), dir + "/" + name + ".h5",
                                                       fs::copy_options::overwrite_existing);
}

}  // namespace circuits::fuzz
