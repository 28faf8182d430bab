// The results file: root attributes shared by every pass, and the helpers passes write with.
#pragma once

#include "lib/hdf5.hpp"
#include "lib/model.hpp"

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <utility>
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

// The value results files store where a quantity is undefined (same-layer pairs, absent positions).
inline constexpr float kUndefined = std::numeric_limits<float>::quiet_NaN();

// A row-major array of shape `dims` with every entry `fill`.
template <typename T>
Array<T> make_array(std::vector<std::uint64_t> dims, T fill) {
    Array<T> a;
    a.dims = std::move(dims);
    a.data.assign(a.size(), fill);
    return a;
}

// The entry of `a` at `index` (one index per dimension, row-major).
template <typename T>
T& entry(Array<T>& a, std::initializer_list<std::int64_t> index) {
    std::uint64_t offset = 0;
    size_t d = 0;
    for (auto i : index) offset = offset * a.dims[d++] + static_cast<std::uint64_t>(i);
    return a.data[offset];
}
template <typename T>
const T& entry(const Array<T>& a, std::initializer_list<std::int64_t> index) {
    return entry(const_cast<Array<T>&>(a), index);
}

// True when the output vocabulary is the input one (same size and strings), the condition under
// which a token-space circuit's diagonal and eigenvalues (copying) mean anything.
bool same_vocabulary(const Model& model);

// The tokens that are in both vocabularies (Vocabulary::shared_with, lib/vocabulary.hpp).
using SharedVocabulary = SharedTokens;
SharedVocabulary shared_vocabulary(const Model& model);

// W_E's rows of the shared input tokens [shared, d_model] and W_U's columns of the matching output
// tokens [d_model, shared], in the order of `shared`.
std::pair<Matrix, Matrix> shared_embeddings(const Model& model, const SharedVocabulary& shared);

}  // namespace circuits::analyses
