// Probe construction and the dynamics statistics logged during training.
#include "lib/train/dynamics.hpp"

#include "lib/error.hpp"
#include "lib/train/rng.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace circuits::train {

Probe make_probe(const Task& task, int size, Rng& rng) {
    Probe p;
    for (int s = 0; s < size; ++s) p.batch.push_back(task.sample(rng));
    const bool bos = task.bos_token() >= 0;
    p.first = bos ? 1 : 0;
    p.half = std::min(25, (task.n_ctx() - p.first) / 2);
    if (p.half < 2) return p;
    const auto ord = task.ordinary_tokens();
    const int V = static_cast<int>(ord.size());
    const int n = p.half;
    for (int s = 0; s < size; ++s) {
        std::vector<int> r(static_cast<size_t>(n));
        if (V >= n) {
            const auto pick = rng.sample_without_replacement(V, n);
            for (int i = 0; i < n; ++i) r[static_cast<size_t>(i)] = ord[static_cast<size_t>(pick[static_cast<size_t>(i)])];
        } else {
            for (auto& t : r) t = ord[static_cast<size_t>(rng.uniform_int(V))];
        }
        Example e;
        if (bos) e.tokens.push_back(task.bos_token());
        e.tokens.insert(e.tokens.end(), r.begin(), r.end());
        e.tokens.insert(e.tokens.end(), r.begin(), r.end());
        e.targets.assign(e.tokens.size(), -1);
        if (task.next_token_task())
            for (int k = 0; k + 1 < n; ++k) {
                const auto i = static_cast<size_t>(p.first + n + k);
                e.targets[i] = task.output_index(e.tokens[i + 1]);
            }
        p.repeated.push_back(std::move(e));
    }
    return p;
}

DynamicsPoint measure_dynamics(const Params<float>& params, const Task& task, const Probe& probe,
                               Backprop<float>& work, int step) {
    const auto& c = params.cfg();
    if (c.d_vocab != static_cast<int>(task.vocab().size()) || c.d_vocab_out != static_cast<int>(task.vocab_out().size()))
        throw Error("measure_dynamics: the model's vocabularies (" + std::to_string(c.d_vocab) + " in, " +
                    std::to_string(c.d_vocab_out) + " out) are not the task's (" + std::to_string(task.vocab().size()) +
                    " in, " + std::to_string(task.vocab_out().size()) + " out)");
    const int L = c.n_layers, H = c.n_heads;
    DynamicsPoint d;
    d.step = step;
    const double nan = std::numeric_limits<double>::quiet_NaN();

    // Probe batch: loss, entropy and token-kind masses at scored positions.
    const double loss = work.forward(params, probe.batch);
    d.loss = work.scored() > 0 ? loss / work.scored() : nan;
    const auto kinds = task.token_kinds();
    d.entropy = Eigen::MatrixXd::Zero(L, H);
    if (!kinds.empty()) {
        d.distinct_mass = d.common_mass = d.distinct_per_key = d.common_per_key = Eigen::MatrixXd::Zero(L, H);
    }
    long scored = 0, with_distinct = 0, with_common = 0;
    for (size_t s = 0; s < probe.batch.size(); ++s) {
        const auto& e = probe.batch[s];
        for (size_t i = 0; i < e.tokens.size(); ++i) {
            if (e.targets[i] < 0) continue;
            ++scored;
            const auto qi = static_cast<Eigen::Index>(i);
            const Eigen::Index keys = c.causal ? qi + 1 : static_cast<Eigen::Index>(e.tokens.size());
            int n_distinct = 0, n_common = 0;
            if (!kinds.empty())
                for (Eigen::Index j = 0; j < keys; ++j) {
                    const int k = kinds[static_cast<size_t>(e.tokens[static_cast<size_t>(j)])];
                    n_distinct += k == 1;
                    n_common += k == 2;
                }
            with_distinct += n_distinct > 0;
            with_common += n_common > 0;
            for (int l = 0; l < L; ++l)
                for (int h = 0; h < H; ++h) {
                    const auto& A = work.pattern(l, s, h);
                    double ent = 0.0, md = 0.0, mc = 0.0;
                    for (Eigen::Index j = 0; j < keys; ++j) {
                        const double a = A(qi, j);
                        if (a > 0.0) ent -= a * std::log(a);
                        if (!kinds.empty()) {
                            const int k = kinds[static_cast<size_t>(e.tokens[static_cast<size_t>(j)])];
                            if (k == 1) md += a;
                            if (k == 2) mc += a;
                        }
                    }
                    d.entropy(l, h) += ent;
                    if (!kinds.empty()) {
                        d.distinct_mass(l, h) += md;
                        d.common_mass(l, h) += mc;
                        if (n_distinct > 0) d.distinct_per_key(l, h) += md / n_distinct;
                        if (n_common > 0) d.common_per_key(l, h) += mc / n_common;
                    }
                }
        }
    }
    const auto mean = [&](Eigen::MatrixXd& m, long n) {
        if (m.size() == 0) return;
        if (n > 0) m /= static_cast<double>(n);
        else m.setConstant(nan);
    };
    mean(d.entropy, scored);
    mean(d.distinct_mass, scored);
    mean(d.common_mass, scored);
    mean(d.distinct_per_key, with_distinct);
    mean(d.common_per_key, with_common);

    // Repeated sequences: previous-token and induction scores, loss on the second copy.
    d.prev_token = Eigen::MatrixXd::Constant(L, H, nan);
    d.induction = Eigen::MatrixXd::Constant(L, H, nan);
    d.repeat_loss = nan;
    if (!probe.repeated.empty() && L > 0) {
        const double rloss = work.forward(params, probe.repeated);
        if (work.scored() > 0) d.repeat_loss = rloss / work.scored();
        d.prev_token.setZero();
        d.induction.setZero();
        const int n = probe.half;
        long count = 0;
        for (size_t s = 0; s < probe.repeated.size(); ++s)
            for (int k = 0; k < n; ++k) {
                const auto& toks = probe.repeated[s].tokens;
                const Eigen::Index i = probe.first + n + k;
                ++count;
                for (int l = 0; l < L; ++l)
                    for (int h = 0; h < H; ++h) {
                        const auto& A = work.pattern(l, s, h);
                        d.prev_token(l, h) += A(i, i - 1);
                        // Every key j + 1 whose predecessor j holds the query's token (distinct
                        // keys, so each is counted once); with distinct tokens in r only i - n + 1.
                        double sum = 0.0;
                        for (Eigen::Index j = 0; j < i; ++j)
                            if (toks[static_cast<size_t>(j)] == toks[static_cast<size_t>(i)]) sum += A(i, j + 1);
                        d.induction(l, h) += sum;
                    }
            }
        d.prev_token /= static_cast<double>(count);
        d.induction /= static_cast<double>(count);
    }

    const int q = task.query_token();
    if (q >= 0 && L > 0) {
        d.qk_query.resize(L * H, c.d_vocab);
        const auto W_E = params.at(params.W_E);
        const double inv_scale = 1.0 / c.effective_attn_scale();
        for (int l = 0; l < L; ++l) {
            const auto& s = params.layer(l);
            const Eigen::MatrixXf q_row = W_E.row(q) * params.at(s.W_Q);  // [1, H*dh]
            const Eigen::MatrixXf keys = W_E * params.at(s.W_K);            // [d_vocab, H*dh]
            for (int h = 0; h < H; ++h) {
                const auto dh = static_cast<Eigen::Index>(c.d_head);
                d.qk_query.row(l * H + h) =
                    (q_row.middleCols(h * dh, dh) * keys.middleCols(h * dh, dh).transpose()).cast<double>() * inv_scale;
            }
        }
    }
    return d;
}

}  // namespace circuits::train
