// The results file: root attributes shared by every pass, and the helpers passes write with.
#pragma once

#include "lib/hdf5.hpp"
#include "lib/model.hpp"

#include <string>
#include <vector>

namespace circuits::analyses {

inline constexpr int kResultsFormatVersion = 1;

// What the results file records about the run at its root.
struct ResultsHeader {
    std::string model_path;
    std::string model_sha256;
    std::vector<std::string> passes;
    std::vector<std::string> weight_processing;
};

// Writes the root attributes (format, format_version, model path and hash, version, passes,
// weight processing) of a results file.
void write_results_header(H5Writer& w, const ResultsHeader& header);

// SHA-256 of a file's bytes as lowercase hex.
std::string sha256_file(const std::string& path);

}  // namespace circuits::analyses
