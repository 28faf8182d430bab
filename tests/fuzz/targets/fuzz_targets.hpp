// The fuzz targets: one entry function per untrusted input format, shared by the libFuzzer drivers,
// the seed maker and the regression replay in the normal test suite.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace circuits::fuzz {

// One input's bytes in, normal return for every input: a rejection is a circuits::Error, caught
// inside. Anything else (another exception type, a crash, a sanitizer report, a hang) is a finding.
// Returns whether the target's main reader accepted the input (every seed should be accepted).
using FuzzEntry = bool (*)(const std::uint8_t* data, std::size_t size);

// Writes the target's seed corpus (made from the bundled files under `source_dir`) into `dir`.
using SeedMaker = void (*)(const std::string& source_dir, const std::string& dir);

struct FuzzTarget {
    const char* name;  // "safetensors": tests/fuzz/regressions/safetensors/, binary fuzz_safetensors
    FuzzEntry run;
    SeedMaker seeds;
    std::size_t max_len;  // libFuzzer -max_len: the largest input worth mutating
};

// Every target, in the order scripts/fuzz.sh runs them.
const std::vector<FuzzTarget>& fuzz_targets();
// The target called `name`; throws circuits::Error for an unknown name.
const FuzzTarget& find_fuzz_target(const std::string& name);

bool fuzz_safetensors(const std::uint8_t* data, std::size_t size);
bool fuzz_config_json(const std::uint8_t* data, std::size_t size);
bool fuzz_hdf5_model(const std::uint8_t* data, std::size_t size);
bool fuzz_results(const std::uint8_t* data, std::size_t size);
bool fuzz_rasp(const std::uint8_t* data, std::size_t size);
bool fuzz_tokens(const std::uint8_t* data, std::size_t size);

void seed_safetensors(const std::string& source_dir, const std::string& dir);
void seed_config_json(const std::string& source_dir, const std::string& dir);
void seed_hdf5_model(const std::string& source_dir, const std::string& dir);
void seed_results(const std::string& source_dir, const std::string& dir);
void seed_rasp(const std::string& source_dir, const std::string& dir);
void seed_tokens(const std::string& source_dir, const std::string& dir);

}  // namespace circuits::fuzz
