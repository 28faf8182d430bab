// Reads what the report pages need from a results file; absent groups are nullopt, wrong shapes are errors.
#include "reports/results_reader.hpp"

#include "lib/error.hpp"
#include "lib/results_schema.hpp"
#include "reports/html.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace circuits::reports {

namespace {

std::string dims_text(const std::vector<std::uint64_t>& d) {
    std::ostringstream os;
    os << "[";
    for (size_t i = 0; i < d.size(); ++i) os << (i ? ", " : "") << d[i];
    os << "]";
    return os.str();
}

// Datasets whose first two dimensions are (n_layers, n_heads), to infer the shape when no model is read.
const std::vector<std::string>& head_indexed() {
    namespace s = schema;
    static const std::vector<std::string> names = {s::induction::prev_token,
                                                   s::induction::induction,
                                                   s::eigen::ov_copying,
                                                   s::circuits::ov_diag_top1,
                                                   s::composition::q.raw,
                                                   s::composition::k.raw,
                                                   s::composition::v.raw,
                                                   s::path::head_norm,
                                                   s::circuits::ov_top_tokens,
                                                   s::circuits::qk_top_tokens,
                                                   s::eigen::ov_eigenvalues.re,
                                                   s::circuits::qk_pos,
                                                   s::induction::is_induction_head.dataset};
    return names;
}

}  // namespace

const std::vector<ScoreInfo>& known_scores() {
    namespace s = schema;
    static const std::vector<ScoreInfo> scores = {
        {s::induction::prev_token, "prev_token", "previous-token",
         "Mean attention from a position to the one before it, on the repeated-sequence probe.", ScoreRange::unit},
        {s::induction::induction, "induction", "induction",
         "Mean attention to the token after an earlier occurrence of the current token (prefix matching), "
         "on the repeated-sequence probe.",
         ScoreRange::unit},
        {s::eigen::ov_copying, "ov_copying", "OV copying",
         "sum(λ) / sum(|λ|) over the eigenvalues of the OV circuit W_E OV W_U: positive when the head raises the "
         "logit of the token it attends to.",
         ScoreRange::signed_unit},
        {s::induction::duplicate_token, "duplicate_token", "duplicate-token",
         "Mean attention to earlier occurrences of the current token, on the repeated-sequence probe.",
         ScoreRange::unit},
        {s::induction::copying_eval, "copying_eval", "copying evaluator",
         "Share of the head's direct logit effect (mean-subtracted, ReLU) that goes to the attended token, "
         "rescaled to [-1, 1].",
         ScoreRange::signed_unit},
        {s::induction::mechanistic, "mechanistic", "mechanistic (K-composition)",
         "K-composition with earlier heads weighted by their previous-token scores: induction evidence from the "
         "weights alone.",
         ScoreRange::free},
        {s::circuits::qk_diag_top1, "qk_diag_top1", "QK self-attention share",
         "Share of query tokens whose top key is the token itself.", ScoreRange::unit},
        {s::circuits::ov_diag_rank_mean, "ov_diag_rank_mean", "OV self rank",
         "Mean position of the source token itself in its OV row (0 = its own top output).", ScoreRange::positive},
        {s::circuits::qk_diag_rank_mean, "qk_diag_rank_mean", "QK self rank",
         "Mean position of the query token itself among its keys (0 = its own top key).", ScoreRange::positive},
        {s::eigen::qk_copying, "qk_copying", "QK copying",
         "sum(λ) / sum(|λ|) over the eigenvalues of the token QK circuit: positive when the head attends to the "
         "same token.",
         ScoreRange::signed_unit},
        {s::circuits::ov_diag_top1, "ov_diag_top1", "OV self-copy share",
         "Share of source tokens whose top-1 OV output is the token itself.", ScoreRange::unit},
        {s::path::head_norm, "head_norm", "path norm", "Frobenius norm of the head's path term W_E OV W_U.",
         ScoreRange::positive},
        {s::path::head_copying, "head_copying", "path copying", "Copying score of the head's path term W_E OV W_U.",
         ScoreRange::signed_unit},
    };
    return scores;
}

ResultsReader::ResultsReader(const std::string& path) : m_file(path) {
    namespace root = schema::root;
    if (!m_file.has_attribute("/", root::attr::format))
        throw Error(path + ": not a circuits results file (no root attribute 'format')");
    const auto format = m_file.attr_string("/", root::attr::format);
    if (format != root::format_value)
        throw Error(path + ": not a circuits results file (format = '" + format + "', expected '" + root::format_value +
                    "')");
    for (const auto& name : head_indexed())
        if (m_file.exists(name) && !m_file.is_group(name)) {
            const auto d = m_file.dims(name);
            if (d.size() >= 2) {
                m_layers = static_cast<int>(d[0]);
                m_heads = static_cast<int>(d[1]);
                break;
            }
        }
}

std::vector<std::pair<std::string, std::string>> ResultsReader::root_attributes() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& name : m_file.attribute_names("/")) {
        const auto text = attr_text("/", name);
        out.emplace_back(name, text ? *text : "(unreadable)");
    }
    return out;
}

std::string ResultsReader::root_string(const std::string& name) const {
    const auto t = attr_text("/", name);
    return t ? *t : "";
}

std::vector<std::string> ResultsReader::groups() const {
    std::vector<std::string> out;
    for (const auto& c : m_file.children("/"))
        if (m_file.is_group(c)) out.push_back(c);
    return out;
}

void ResultsReader::set_shape(int n_layers, int n_heads) {
    m_layers = n_layers;
    m_heads = n_heads;
    for (const auto& name : head_indexed())
        if (has(name)) check_leading(name, std::max<size_t>(2, m_file.dims(name).size()));
}

bool ResultsReader::has(const std::string& dataset) const {
    return m_file.exists(dataset) && !m_file.is_group(dataset);
}

// Checks that `dataset` has `rank` dimensions starting with (n_layers, n_heads).
void ResultsReader::check_leading(const std::string& dataset, size_t rank) const {
    const auto d = m_file.dims(dataset);
    if (d.size() != rank || d[0] != static_cast<std::uint64_t>(m_layers) ||
        d[1] != static_cast<std::uint64_t>(m_heads))
        throw Error(m_file.where(dataset) + ": shape " + dims_text(d) + ", expected [" + std::to_string(m_layers) +
                    ", " + std::to_string(m_heads) + (rank > 2 ? ", ...]" : "]") + " (" + std::to_string(rank) +
                    " dimensions, n_layers and n_heads first)");
}

std::optional<Matrix> ResultsReader::head_grid(const std::string& dataset) const {
    if (!has(dataset)) return std::nullopt;
    check_leading(dataset, 2);
    const auto a = m_file.read_float(dataset);
    return matrix_from_row_major(a.data.data(), m_layers, m_heads);
}

std::vector<HeadScore> ResultsReader::head_scores() const {
    std::vector<HeadScore> out;
    for (auto info : known_scores()) {
        if (info.dataset == schema::eigen::ov_copying && !has(info.dataset) && has(schema::induction::ov_copying))
            info.dataset = schema::induction::ov_copying;
        if (auto grid = head_grid(info.dataset)) out.push_back({info, *grid});
    }
    return out;
}

std::optional<Array<float>> ResultsReader::pair_grid(const std::string& dataset) const {
    if (!has(dataset)) return std::nullopt;
    check_leading(dataset, 4);
    const auto d = m_file.dims(dataset);
    if (d[2] != d[0] || d[3] != d[1])
        throw Error(m_file.where(dataset) + ": shape " + dims_text(d) + ", expected [" + std::to_string(m_layers) +
                    ", " + std::to_string(m_heads) + ", " + std::to_string(m_layers) + ", " + std::to_string(m_heads) +
                    "] (pairs of heads)");
    return m_file.read_float(dataset);
}

std::optional<Composition> ResultsReader::composition(const std::string& kind) const {
    namespace s = schema::composition;
    for (const auto& k : s::kinds) {
        if (kind != k.name) continue;
        auto raw = pair_grid(k.raw);
        if (!raw) return std::nullopt;
        Composition c;
        c.kind = kind;
        c.raw = std::move(*raw);
        c.z = pair_grid(k.z);
        c.baseline_mean = attr_number(s::group, k.baseline_mean);
        c.baseline_std = attr_number(s::group, k.baseline_std);
        return c;
    }
    throw Error("unknown composition kind '" + kind + "' (q, k or v)");
}

std::optional<TopTable> ResultsReader::top_table(const std::string& tokens, const std::string& values, int layer,
                                                 int head) const {
    if (!has(tokens) || !has(values)) return std::nullopt;
    check_leading(tokens, 4);
    check_leading(values, 4);
    const auto dt = m_file.dims(tokens), dv = m_file.dims(values);
    if (dt != dv)
        throw Error(m_file.where(values) + ": shape " + dims_text(dv) + " differs from " + tokens + " " + dims_text(dt));
    const std::vector<std::uint64_t> at = {static_cast<std::uint64_t>(layer), static_cast<std::uint64_t>(head)};
    TopTable t;
    t.rows = static_cast<int>(dt[2]);
    t.k = static_cast<int>(dt[3]);
    t.tokens = m_file.read_int_slice(tokens, at);
    t.values = m_file.read_float_slice(values, at);
    return t;
}

std::optional<TopTable> ResultsReader::bigram() const {
    const std::string tokens = schema::bigram::top_tokens, values = schema::bigram::top_logits;
    if (!has(tokens) || !has(values)) return std::nullopt;
    const auto dt = m_file.dims(tokens), dv = m_file.dims(values);
    if (dt.size() != 2) throw Error(m_file.where(tokens) + ": shape " + dims_text(dt) + ", expected [d_vocab, k]");
    if (dt != dv) throw Error(m_file.where(values) + ": shape " + dims_text(dv) + " differs from " + tokens + " " + dims_text(dt));
    TopTable t;
    t.rows = static_cast<int>(dt[0]);
    t.k = static_cast<int>(dt[1]);
    t.tokens = m_file.read_int(tokens);
    t.values = m_file.read_float(values);
    return t;
}

std::optional<Matrix> ResultsReader::head_square(const std::string& dataset, int layer, int head) const {
    if (!has(dataset)) return std::nullopt;
    check_leading(dataset, 4);
    const auto a = m_file.read_float_slice(dataset, {static_cast<std::uint64_t>(layer), static_cast<std::uint64_t>(head)});
    return matrix_from_row_major(a.data.data(), static_cast<std::int64_t>(a.dims[0]), static_cast<std::int64_t>(a.dims[1]));
}

std::optional<std::vector<std::complex<double>>> ResultsReader::eigenvalues(const std::string& circuit, int layer,
                                                                          int head) const {
    if (circuit != "ov" && circuit != "qk") throw Error("unknown eigenvalue circuit '" + circuit + "' (ov or qk)");
    const auto& names = circuit == "ov" ? schema::eigen::ov_eigenvalues : schema::eigen::qk_eigenvalues;
    const std::string re = names.re, im = names.im;
    if (!has(re) || !has(im)) return std::nullopt;
    check_leading(re, 3);
    check_leading(im, 3);
    if (m_file.dims(re) != m_file.dims(im))
        throw Error(m_file.where(im) + ": shape " + dims_text(m_file.dims(im)) + " differs from " + re + " " +
                    dims_text(m_file.dims(re)));
    const std::vector<std::uint64_t> at = {static_cast<std::uint64_t>(layer), static_cast<std::uint64_t>(head)};
    const auto r = m_file.read_float_slice(re, at), i = m_file.read_float_slice(im, at);
    std::vector<std::complex<double>> out;
    for (size_t k = 0; k < r.data.size(); ++k) out.emplace_back(r.data[k], i.data[k]);
    return out;
}

std::optional<double> ResultsReader::scalar(const std::string& group, const std::string& name) const {
    if (!m_file.exists(group)) return std::nullopt;
    return attr_number(group, name);
}

std::optional<std::vector<double>> ResultsReader::vector(const std::string& dataset) const {
    if (!has(dataset)) return std::nullopt;
    const auto a = m_file.read_double(dataset);
    if (a.dims.size() != 1)
        throw Error(m_file.where(dataset) + ": shape " + dims_text(a.dims) + ", expected a 1-D array");
    return a.data;
}

std::optional<double> ResultsReader::attr_number(const std::string& object, const std::string& name) const {
    if (!m_file.has_attribute(object, name)) return std::nullopt;
    try {
        return m_file.attr_double(object, name);
    } catch (const Error&) {
        return std::nullopt;
    }
}

std::optional<std::string> ResultsReader::attr_text(const std::string& object, const std::string& name) const {
    if (!m_file.has_attribute(object, name)) return std::nullopt;
    try {
        return m_file.attr_string(object, name);
    } catch (const Error&) {
    }
    try {
        const double v = m_file.attr_double(object, name);
        if (v == std::floor(v) && std::abs(v) < 1e15) return std::to_string(static_cast<long long>(v));
        return format_number(v);
    } catch (const Error&) {
        return std::nullopt;
    }
}

}  // namespace circuits::reports
