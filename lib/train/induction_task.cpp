// Sampling of the induction task's sequences (random tokens with one repeated segment).
#include "lib/train/induction_task.hpp"

#include "lib/error.hpp"
#include "lib/hdf5.hpp"
#include "lib/train/rng.hpp"

#include <algorithm>
#include <set>

namespace circuits::train {

InductionTask::InductionTask(const std::string& spec, const TaskOptions& o) : m_max_len(o.max_len > 0 ? o.max_len : 8) {
    m_spec = spec;
    std::vector<std::string> tokens = o.vocab;
    if (tokens.empty()) tokens = {"a", "b", "c", "d"};  // data/programs/induction.rasp
    if (tokens.size() < 2) throw UsageError("induction: the vocabulary needs at least 2 tokens");
    if (m_max_len < 4) throw UsageError("induction: --max-len must be at least 4, got " + std::to_string(m_max_len));
    if (!o.bos.empty()) {
        m_vocab.push_back(o.bos);
        m_bos = 0;
    }
    for (const auto& t : tokens) m_vocab.push_back(t);
    if (std::set<std::string>(m_vocab.begin(), m_vocab.end()).size() != m_vocab.size())
        throw UsageError("induction: the vocabulary (BOS included) has a repeated token");
    m_vocab_out = tokens;  // BOS is never a target (as in the compiled induction program)
    m_n_ctx = m_max_len + (m_bos >= 0 ? 1 : 0);
    index_outputs();
    m_ordinary = ordinary_tokens();
    if (m_ordinary.empty()) throw UsageError("induction: every token is special (<...>, [...]): none to sample");
}

Example InductionTask::sample(Rng& rng) const {
    const int L = m_max_len, V = static_cast<int>(m_ordinary.size());
    std::vector<int> body(static_cast<size_t>(L));
    for (auto& t : body) t = m_ordinary[static_cast<size_t>(rng.uniform_int(V))];
    // The distance d between the two copies is uniform, so no fixed positional offset predicts the
    // copy; then the segment length n and the start.
    const int d = 2 + rng.uniform_int(L - 3);               // in [2, L - 2]
    const int n = 2 + rng.uniform_int(std::min(d, L - d) - 1);  // in [2, min(d, L - d)]
    const int start = rng.uniform_int(L - d - n + 1);        // in [0, L - d - n]
    for (int i = 0; i < n; ++i) body[static_cast<size_t>(start + d + i)] = body[static_cast<size_t>(start + i)];
    Example e;
    if (m_bos >= 0) e.tokens.push_back(m_bos);
    e.tokens.insert(e.tokens.end(), body.begin(), body.end());
    for (size_t i = 0; i < e.tokens.size(); ++i) e.targets.push_back(i + 1 < e.tokens.size() ? output_index(e.tokens[i + 1]) : -1);
    return e;
}

void InductionTask::write_description(H5Writer& w, const std::string& group) const {
    w.attr(group, "max_len", m_max_len);
    w.attr(group, "bos", m_bos >= 0 ? m_vocab[0] : std::string());
    w.attr(group, "sampling",
           "BOS (if any) + max_len = L uniform tokens; distance d uniform in [2, L-2], segment length n uniform in "
           "[2, min(d, L-d)], start s uniform in [0, L-d-n]; tokens s..s+n-1 are copied to s+d..s+d+n-1; "
           "target = next token");
}

}  // namespace circuits::train
