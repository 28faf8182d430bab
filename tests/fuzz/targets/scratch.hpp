// Helpers of the fuzz targets: an input's bytes as a file (the readers take paths), the scratch
// folder, and the one rule for what counts as a rejection.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "lib/error.hpp"

namespace circuits::fuzz {

// A per-process folder under the temporary directory ($TMPDIR), removed at exit.
const std::string& scratch_dir();

// Writes the bytes to `scratch_dir()/name` (replacing it) and returns the path.
std::string scratch_file(const std::string& name, const std::uint8_t* data, std::size_t size);

// Reads a whole file; throws Error naming it.
std::string read_bytes(const std::string& path);
// Writes a whole file; throws Error naming it.
void write_bytes(const std::string& path, const std::string& bytes);

// Runs fn and returns true; a circuits::Error is the reader refusing the input, which is fine:
// false. Every other exception propagates (a finding).
template <typename Fn>
bool rejecting(Fn&& fn) {
    try {
        fn();
        return true;
    } catch (const circuits::Error&) {
        return false;
    }
}

}  // namespace circuits::fuzz
