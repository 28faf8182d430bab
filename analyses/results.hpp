// The results file: root attributes shared by every pass, and the helpers passes write with.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "lib/array.hpp"
#include "lib/model.hpp"

namespace circuits {
class H5Writer;  // lib/hdf5.hpp: only the writers' .cpp files see HDF5
}  // namespace circuits

namespace circuits::analyses {

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

// The value results files store where a quantity is undefined (same-layer pairs, absent positions).
inline constexpr float kUndefined = std::numeric_limits<float>::quiet_NaN();

// True when the output vocabulary is the input one (same size and strings), the condition under
// which a token-space circuit's diagonal and eigenvalues (copying) mean anything.
bool same_vocabulary(const Model& model);

// The tokens that are in both vocabularies (Vocabulary::shared_with, lib/vocabulary.hpp).
SharedTokens shared_vocabulary(const Model& model);

// W_E's rows of the shared input tokens [shared, d_model] and W_U's columns of the matching output
// tokens [d_model, shared], in the order of `shared`.
std::pair<Matrix, Matrix> shared_embeddings(const Model& model, const SharedTokens& shared);

}  // namespace circuits::analyses
