// Sampling of the Scan and Snap task's sequences: distinct and common context tokens, then the query.
#include "lib/train/scan_snap_task.hpp"

#include "lib/error.hpp"
#include "lib/hdf5.hpp"
#include "lib/train/rng.hpp"

namespace circuits::train {

ScanSnapTask::ScanSnapTask(const std::string& spec, const TaskOptions& o)
    : m_max_len(o.max_len > 0 ? o.max_len : 16), m_classes(o.classes), m_distinct(o.distinct), m_common(o.common), m_common_prob(o.common_prob) {
    m_spec = spec;
    if (m_classes < 2) throw UsageError("scan-snap: --classes must be at least 2, got " + std::to_string(m_classes));
    if (m_distinct < 1) throw UsageError("scan-snap: --distinct must be at least 1, got " + std::to_string(m_distinct));
    if (m_common < 0) throw UsageError("scan-snap: --common must be >= 0, got " + std::to_string(m_common));
    if (m_max_len < 2) throw UsageError("scan-snap: --max-len must be at least 2, got " + std::to_string(m_max_len));
    if (!(m_common_prob >= 0.0 && m_common_prob < 1.0) || (m_common == 0 && m_common_prob > 0.0))
        throw UsageError("scan-snap: --common-prob must be in [0, 1) (and 0 without common tokens)");
    m_vocab.push_back("q");
    for (int k = 0; k < m_classes; ++k) m_vocab.push_back("n" + std::to_string(k));
    for (int k = 0; k < m_classes; ++k)
        for (int i = 0; i < m_distinct; ++i) m_vocab.push_back("d" + std::to_string(k) + "_" + std::to_string(i));
    for (int j = 0; j < m_common; ++j) m_vocab.push_back("c" + std::to_string(j));
    m_vocab_out = m_vocab;
    m_n_ctx = m_max_len;
    for (int i = 0; i < m_distinct; ++i) m_zipf.push_back(1.0 / (i + 1));
    index_outputs();
}

Example ScanSnapTask::sample(Rng& rng) const {
    const int cls = rng.uniform_int(m_classes);
    Example e;
    for (int t = 0; t + 1 < m_max_len; ++t) {
        if (m_common > 0 && rng.uniform01() < m_common_prob)
            e.tokens.push_back(common_token(rng.uniform_int(m_common)));
        else
            e.tokens.push_back(distinct_token(cls, rng.categorical(m_zipf)));
        e.targets.push_back(-1);
    }
    e.tokens.push_back(query_token());
    e.targets.push_back(next_token(cls));
    return e;
}

std::vector<int> ScanSnapTask::token_kinds() const {
    std::vector<int> kinds(m_vocab.size(), 0);
    for (int k = 0; k < m_classes; ++k)
        for (int i = 0; i < m_distinct; ++i) kinds[static_cast<size_t>(distinct_token(k, i))] = 1;
    for (int j = 0; j < m_common; ++j) kinds[static_cast<size_t>(common_token(j))] = 2;
    return kinds;
}

void ScanSnapTask::write_description(H5Writer& w, const std::string& group) const {
    w.attr(group, "max_len", m_max_len);
    w.attr(group, "classes", m_classes);
    w.attr(group, "distinct", m_distinct);
    w.attr(group, "common", m_common);
    w.attr(group, "common_prob", m_common_prob);
    w.attr(group, "sampling",
           "class k uniform; max_len - 1 context tokens, each common (uniform) with probability common_prob, else a "
           "distinct token of class k with weight 1/(i+1); then the query token q, whose target n{k} is the only "
           "scored position");
    Array<std::int64_t> kinds;
    for (int k : token_kinds()) kinds.data.push_back(k);
    kinds.dims = {static_cast<std::uint64_t>(kinds.data.size())};
    w.write(group + "/token_kind", kinds);
}

}  // namespace circuits::train
