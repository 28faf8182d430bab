// Probe construction and the dynamics statistics logged during training.
#include "lib/train/dynamics.hpp"

#include "lib/error.hpp"
#include "lib/head_scores.hpp"
#include "lib/train/rng.hpp"

#include <cmath>
#include <limits>

namespace circuits::train {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Sums of the probe batch's statistics at scored positions, before dividing by the counts.
struct BatchSums {
    Eigen::MatrixXd entropy, distinct_mass, common_mass, distinct_per_key, common_per_key;  // [L, H]
    long scored = 0, with_distinct = 0, with_common = 0;
};

void check_vocabularies(const ModelConfig& c, const Task& task) {
    if (c.d_vocab != static_cast<int>(task.vocab().size()) || c.d_vocab_out != static_cast<int>(task.vocab_out().size()))
        throw Error("measure_dynamics: the model's vocabularies (" + std::to_string(c.d_vocab) + " in, " +
                    std::to_string(c.d_vocab_out) + " out) are not the task's (" + std::to_string(task.vocab().size()) +
                    " in, " + std::to_string(task.vocab_out().size()) + " out)");
}

// One scored query position qi of sequence s: its entropy and, with token kinds, the attention mass
// on distinct (kind 1) and common (kind 2) keys among the `keys` it sees.
void add_position(const Backprop<float>& work, const ModelConfig& c, const std::vector<int>& kinds,
                  const std::vector<int>& tokens, size_t s, Eigen::Index qi, Eigen::Index keys, BatchSums& sums) {
    int n_distinct = 0, n_common = 0;
    if (!kinds.empty())
        for (Eigen::Index j = 0; j < keys; ++j) {
            const int k = kinds[static_cast<size_t>(tokens[static_cast<size_t>(j)])];
            n_distinct += k == 1;
            n_common += k == 2;
        }
    sums.with_distinct += n_distinct > 0;
    sums.with_common += n_common > 0;
    for (int l = 0; l < c.n_layers; ++l)
        for (int h = 0; h < c.n_heads; ++h) {
            const auto& A = work.pattern(l, s, h);
            double ent = 0.0, md = 0.0, mc = 0.0;
            for (Eigen::Index j = 0; j < keys; ++j) {
                const double a = A(qi, j);
                if (a > 0.0) ent -= a * std::log(a);
                if (!kinds.empty()) {
                    const int k = kinds[static_cast<size_t>(tokens[static_cast<size_t>(j)])];
                    if (k == 1) md += a;
                    if (k == 2) mc += a;
                }
            }
            sums.entropy(l, h) += ent;
            if (!kinds.empty()) {
                sums.distinct_mass(l, h) += md;
                sums.common_mass(l, h) += mc;
                if (n_distinct > 0) sums.distinct_per_key(l, h) += md / n_distinct;
                if (n_common > 0) sums.common_per_key(l, h) += mc / n_common;
            }
        }
}

// Probe batch: loss, entropy and token-kind masses at scored positions, as means.
void measure_batch(const Params<float>& params, const Task& task, const DynamicsProbe& probe, Backprop<float>& work,
                   DynamicsPoint& d) {
    const auto& c = params.cfg();
    const double loss = work.forward(params, probe.batch);
    d.loss = work.scored() > 0 ? loss / work.scored() : kNaN;
    const auto kinds = task.token_kinds();
    BatchSums sums;
    sums.entropy = Eigen::MatrixXd::Zero(c.n_layers, c.n_heads);
    if (!kinds.empty())
        sums.distinct_mass = sums.common_mass = sums.distinct_per_key = sums.common_per_key = sums.entropy;
    for (size_t s = 0; s < probe.batch.size(); ++s) {
        const auto& e = probe.batch[s];
        for (size_t i = 0; i < e.tokens.size(); ++i) {
            if (e.targets[i] < 0) continue;
            ++sums.scored;
            const auto qi = static_cast<Eigen::Index>(i);
            const Eigen::Index keys = c.causal ? qi + 1 : static_cast<Eigen::Index>(e.tokens.size());
            add_position(work, c, kinds, e.tokens, s, qi, keys, sums);
        }
    }
    const auto mean = [&](Eigen::MatrixXd& m, long n) {
        if (m.size() == 0) return;
        if (n > 0) m /= static_cast<double>(n);
        else
            m.setConstant(kNaN);
    };
    mean(sums.entropy, sums.scored);
    mean(sums.distinct_mass, sums.scored);
    mean(sums.common_mass, sums.scored);
    mean(sums.distinct_per_key, sums.with_distinct);
    mean(sums.common_per_key, sums.with_common);
    d.entropy = std::move(sums.entropy);
    d.distinct_mass = std::move(sums.distinct_mass);
    d.common_mass = std::move(sums.common_mass);
    d.distinct_per_key = std::move(sums.distinct_per_key);
    d.common_per_key = std::move(sums.common_per_key);
}

// Repeated sequences: previous-token and induction scores, loss on repeats >= 2.
void measure_repeated(const Params<float>& params, const DynamicsProbe& probe, Backprop<float>& work,
                      DynamicsPoint& d) {
    const int L = params.cfg().n_layers, H = params.cfg().n_heads;
    d.prev_token = Eigen::MatrixXd::Constant(L, H, kNaN);
    d.induction = Eigen::MatrixXd::Constant(L, H, kNaN);
    d.repeat_loss = kNaN;
    if (probe.repeated_examples.empty() || L == 0) return;
    const double rloss = work.forward(params, probe.repeated_examples);
    if (work.scored() > 0) d.repeat_loss = rloss / work.scored();
    for (int l = 0; l < L; ++l)
        for (int h = 0; h < H; ++h) {
            const RepeatScores r = repeat_scores(
                probe.repeated, [&](int s) -> const Matrix& { return work.pattern(l, static_cast<size_t>(s), h); });
            d.prev_token(l, h) = r.prev_token;
            d.induction(l, h) = r.induction;
        }
}

// [L * H, d_vocab]: row l*H + h is the token QK circuit row of query token q.
Eigen::MatrixXd qk_query_rows(const Params<float>& params, int q) {
    const auto& c = params.cfg();
    const int L = c.n_layers, H = c.n_heads;
    Eigen::MatrixXd out(L * H, c.d_vocab);
    const auto W_E = params.at(params.W_E);
    const double inv_scale = 1.0 / c.effective_attn_scale();
    for (int l = 0; l < L; ++l) {
        const auto& s = params.layer(l);
        const Eigen::MatrixXf q_row = W_E.row(q) * params.at(s.W_Q);  // [1, H*dh]
        const Eigen::MatrixXf keys = W_E * params.at(s.W_K);          // [d_vocab, H*dh]
        for (int h = 0; h < H; ++h) {
            const auto dh = static_cast<Eigen::Index>(c.d_head);
            out.row(l * H + h) =
                (q_row.middleCols(h * dh, dh) * keys.middleCols(h * dh, dh).transpose()).cast<double>() * inv_scale;
        }
    }
    return out;
}

// The probe's sequences as examples; next-token tasks score every position in repeats >= 2 but the
// last (the target is the next token), other tasks none.
std::vector<Example> as_examples(const Task& task, const RepeatedProbe& probe) {
    std::vector<Example> out;
    for (const auto& seq : probe.sequences) {
        Example e;
        e.tokens = seq;
        e.targets.assign(e.tokens.size(), -1);
        if (task.next_token_task())
            for (size_t i = static_cast<size_t>(probe.first_scored()); i + 1 < e.tokens.size(); ++i)
                e.targets[i] = task.output_index(e.tokens[i + 1]);
        out.push_back(std::move(e));
    }
    return out;
}

}  // namespace

DynamicsProbe make_dynamics_probe(const Task& task, int size, Rng& rng, RepeatedProbe repeated) {
    DynamicsProbe p;
    for (int s = 0; s < size; ++s) p.batch.push_back(task.sample(rng));
    p.repeated = std::move(repeated);
    p.repeated_examples = as_examples(task, p.repeated);
    return p;
}

DynamicsProbe make_dynamics_probe(const Task& task, int size, Rng& rng) {
    DynamicsProbe p;
    for (int s = 0; s < size; ++s) p.batch.push_back(task.sample(rng));
    const std::uint64_t seed = rng.next_u64();
    const Vocabulary vocab(task.vocab());
    const int offset = task.bos_token() >= 0 ? 1 : 0;
    // Left out where make_repeated_probe would refuse: no room for 2 repeats of 2, no usable token.
    if (size > 0 && task.n_ctx() - offset >= 4 && !vocab.ordinary(task.bos_token()).empty())
        p.repeated = make_repeated_probe(vocab, task.bos_token(), task.n_ctx(), {.sequences = size}, seed);
    p.repeated_examples = as_examples(task, p.repeated);
    return p;
}

DynamicsPoint measure_dynamics(const Params<float>& params, const Task& task, const DynamicsProbe& probe,
                               Backprop<float>& work, int step) {
    check_vocabularies(params.cfg(), task);
    DynamicsPoint d;
    d.step = step;
    measure_batch(params, task, probe, work, d);
    measure_repeated(params, probe, work, d);
    const int q = task.query_token();
    if (q >= 0 && params.cfg().n_layers > 0) d.qk_query = qk_query_rows(params, q);
    return d;
}

}  // namespace circuits::train
