// The Scan and Snap task (Tian et al., 2023): classify a bag of context tokens by its distinct tokens.
#pragma once

#include "lib/train/task.hpp"

namespace circuits::train {

// Vocabulary (vocab_out = vocab): the query token "q" (index 0), the next tokens n0..n{K-1}, the
// distinct tokens d{k}_{i} (i < distinct) of each class k, the common tokens c{j} (j < common).
// A sequence belongs to a class k drawn uniformly: max_len (default 16) - 1 context tokens, each
// common (uniform) with probability common_prob, else a distinct token of class k with Zipf weights 1/(i+1), then
// "q". Only the last position is scored; its target is n{k}. Distinct tokens co-occur with one next
// token only, common ones with all, so attention should move onto the distinct ones (scan) and then
// settle (snap). Meant for one layer, one head, no positions.
class ScanSnapTask : public Task {
public:
    ScanSnapTask(const std::string& spec, const TaskOptions& options);
    std::string name() const override { return "scan-snap"; }
    Example sample(Rng& rng) const override;
    std::vector<int> token_kinds() const override;
    int query_token() const override { return 0; }
    void write_description(H5Writer& w, const std::string& group) const override;

    int next_token(int cls) const { return 1 + cls; }
    int distinct_token(int cls, int i) const { return 1 + m_classes + cls * m_distinct + i; }
    int common_token(int j) const { return 1 + m_classes + m_classes * m_distinct + j; }

private:
    int m_max_len, m_classes, m_distinct, m_common;
    double m_common_prob;
    std::vector<double> m_zipf;  // [distinct] weights 1/(i+1)
};

}  // namespace circuits::train
