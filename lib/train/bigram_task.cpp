// The random Markov chain of the bigram task and its sampler.
#include "lib/train/bigram_task.hpp"

#include "lib/error.hpp"
#include "lib/hdf5.hpp"
#include "lib/train/rng.hpp"

#include <cmath>
#include <set>

namespace circuits::train {

BigramTask::BigramTask(const std::string& spec, const TaskOptions& o, std::uint64_t seed)
    : m_max_len(o.max_len > 0 ? o.max_len : 16), m_logit_std(o.bigram_logit_std) {
    m_spec = spec;
    m_vocab = o.vocab;
    if (m_vocab.empty()) {
        if (o.vocab_size < 2) throw UsageError("bigram: --vocab-size must be at least 2, got " + std::to_string(o.vocab_size));
        for (int i = 0; i < o.vocab_size; ++i) m_vocab.push_back("t" + std::to_string(i));
    }
    if (m_vocab.size() < 2) throw UsageError("bigram: the vocabulary needs at least 2 tokens");
    if (std::set<std::string>(m_vocab.begin(), m_vocab.end()).size() != m_vocab.size())
        throw UsageError("bigram: the vocabulary has a repeated token");
    if (m_max_len < 2) throw UsageError("bigram: --max-len must be at least 2, got " + std::to_string(m_max_len));
    if (!(m_logit_std >= 0.0)) throw UsageError("bigram: the logit std must be >= 0");
    m_vocab_out = m_vocab;
    m_n_ctx = m_max_len;
    index_outputs();
    const auto V = static_cast<Eigen::Index>(m_vocab.size());
    Rng rng = Rng::derived(seed, 0xb16ca4);
    m_transition.resize(V, V);
    for (Eigen::Index i = 0; i < V; ++i) {
        for (Eigen::Index j = 0; j < V; ++j) m_transition(i, j) = m_logit_std * rng.normal();
        m_transition.row(i) = (m_transition.row(i).array() - m_transition.row(i).maxCoeff()).exp();
        m_transition.row(i) /= m_transition.row(i).sum();
        m_rows.emplace_back(static_cast<size_t>(V));
        for (Eigen::Index j = 0; j < V; ++j) m_rows.back()[static_cast<size_t>(j)] = m_transition(i, j);
    }
}

Example BigramTask::sample(Rng& rng) const {
    Example e;
    int t = rng.uniform_int(static_cast<int>(m_vocab.size()));
    for (int i = 0; i < m_max_len; ++i) {
        e.tokens.push_back(t);
        t = rng.categorical(m_rows[static_cast<size_t>(t)]);
    }
    for (size_t i = 0; i < e.tokens.size(); ++i) e.targets.push_back(i + 1 < e.tokens.size() ? e.tokens[i + 1] : -1);
    return e;
}

void BigramTask::write_description(H5Writer& w, const std::string& group) const {
    w.attr(group, "max_len", m_max_len);
    w.attr(group, "logit_std", m_logit_std);
    w.attr(group, "sampling", "first token uniform, then each token from the transition row of the previous one; "
                              "target = next token");
    Array<double> a;
    const auto V = static_cast<std::uint64_t>(m_transition.rows());
    a.dims = {V, V};
    for (Eigen::Index i = 0; i < m_transition.rows(); ++i)
        for (Eigen::Index j = 0; j < m_transition.cols(); ++j) a.data.push_back(m_transition(i, j));
    w.write(group + "/transition", a);
}

}  // namespace circuits::train
