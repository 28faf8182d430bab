// Read access to a results file for the reports: any subset of the pass groups, shapes checked.
#pragma once

#include "lib/array.hpp"
#include "lib/hdf5.hpp"
#include "lib/model.hpp"

#include <complex>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace circuits::reports {

// How a per-head score's values map to colours.
enum class ScoreRange {
    unit,      // in [0, 1]: sequential scale 0..1
    signed_unit,  // in [-1, 1]: diverging scale centred on 0
    positive,  // >= 0, unbounded: sequential scale 0..max
    free,      // any sign, unbounded: diverging scale centred on 0, ± max|v|
};

// A per-head [L, H] score the report knows how to show.
struct ScoreInfo {
    std::string dataset;      // a path from lib/results_schema.hpp, e.g. schema::induction::prev_token
    std::string key;          // "prev_token": element ids (grid-KEY, score-KEY)
    std::string label;        // "previous-token"
    std::string description;  // one sentence
    ScoreRange range = ScoreRange::unit;
};

// Every per-head score in the order the pages show them. The first three are the index page's
// headline grids: previous-token, induction, OV copying.
const std::vector<ScoreInfo>& known_scores();

struct HeadScore {
    ScoreInfo info;
    Matrix values;  // [L, H]
};

// One head's top-k table: row r (a source or query token index) -> k (token, value) pairs.
struct TopTable {
    int rows = 0, k = 0;
    Array<std::int64_t> tokens;  // [rows, k]
    Array<float> values;         // [rows, k]
    std::int64_t token(int r, int j) const { return tokens.at({r, j}); }
    float value(int r, int j) const { return values.at({r, j}); }
};

// One composition kind ("q", "k" or "v") over every head pair.
struct Composition {
    std::string kind;
    Array<float> raw;               // [L, H, L, H]; NaN where l1 >= l2
    std::optional<Array<float>> z;  // [L, H, L, H] when the file has {kind}_z
    std::optional<double> baseline_mean, baseline_std;
};

class ResultsReader {
public:
    // Opens a results file; throws Error unless it is one (root attribute format = "circuits-results").
    explicit ResultsReader(const std::string& path);

    const std::string& path() const { return m_file.path(); }
    const H5Reader& file() const { return m_file; }

    // Every root attribute as (name, text), numbers formatted with format_number.
    std::vector<std::pair<std::string, std::string>> root_attributes() const;
    // A root string attribute, or "" when absent.
    std::string root_string(const std::string& name) const;
    // Top-level groups present ("bigram", "circuits", ...).
    std::vector<std::string> groups() const;

    // Layers and heads: inferred from the first [L, H, ...] dataset found, or set from the model with
    // set_shape (then every dataset must agree). 0 when nothing tells.
    int n_layers() const { return m_layers; }
    int n_heads() const { return m_heads; }
    // Throws Error naming a dataset whose leading dimensions disagree with (n_layers, n_heads).
    void set_shape(int n_layers, int n_heads);

    bool has(const std::string& dataset) const;
    std::vector<std::uint64_t> dims(const std::string& dataset) const { return m_file.dims(dataset); }

    // An [L, H] dataset; nullopt when absent. Throws Error naming it when its shape is wrong.
    std::optional<Matrix> head_grid(const std::string& dataset) const;
    // Every known score present, in known_scores() order (for OV copying: /eigen/ov_copying, else
    // /induction/ov_copying).
    std::vector<HeadScore> head_scores() const;
    // An [L, H, L, H] dataset.
    std::optional<Array<float>> pair_grid(const std::string& dataset) const;
    // Composition kind "q", "k" or "v" (schema::composition::kinds), its baselines from the group's
    // attributes; nullopt when the raw scores are absent.
    std::optional<Composition> composition(const std::string& kind) const;
    // One head's [V, k] slice of a tokens / values dataset pair such as /circuits/ov_top_tokens and
    // ov_top_values; nullopt when either is absent.
    std::optional<TopTable> top_table(const std::string& tokens, const std::string& values, int layer,
                                      int head) const;
    // The direct path's table schema::bigram::top_tokens, top_logits [d_vocab, k]; nullopt when absent.
    std::optional<TopTable> bigram() const;
    // One head's [P, P] slice of an [L, H, P, P] dataset.
    std::optional<Matrix> head_square(const std::string& dataset, int layer, int head) const;
    // One head's eigenvalues of the "ov" or "qk" circuit (schema::eigen::ov_eigenvalues, qk_eigenvalues).
    std::optional<std::vector<std::complex<double>>> eigenvalues(const std::string& circuit, int layer, int head) const;
    // A scalar result: by the schema's one rule, a numeric attribute of its group, e.g.
    // scalar(schema::path::group, schema::path::attr::real_loss). nullopt when absent.
    std::optional<double> scalar(const std::string& group, const std::string& name) const;
    // A 1-D dataset.
    std::optional<std::vector<double>> vector(const std::string& dataset) const;
    // A numeric attribute, or nullopt when absent or not a number.
    std::optional<double> attr_number(const std::string& object, const std::string& name) const;
    std::optional<std::string> attr_text(const std::string& object, const std::string& name) const;

private:
    H5Reader m_file;
    int m_layers = 0, m_heads = 0;
    void check_leading(const std::string& dataset, size_t rank) const;
};

}  // namespace circuits::reports
