// Training dynamics measured on fixed probe batches: loss, attention entropy, previous-token and
// induction scores, and (for tasks with distinct/common tokens) where the attention mass goes.
#pragma once

#include "lib/train/backprop.hpp"
#include "lib/train/task.hpp"

#include <Eigen/Dense>

namespace circuits::train {

// Probe batches drawn once, before training, and reused at every logged step.
struct Probe {
    std::vector<Example> batch;     // samples of the task
    std::vector<Example> repeated;  // BOS (if the task has one) + r + r, r = `half` ordinary tokens
    int half = 0;                   // n, the length of r
    int first = 0;                  // position of r's first token (1 with BOS, else 0)
};

// `size` task samples and `size` repeated sequences: r has n = min(25, (n_ctx - BOS) / 2) tokens,
// drawn without replacement when the task has at least n ordinary tokens. In the repeated
// sequences only the second copy is scored (target = next token, last position excluded), and only
// for next-token tasks (Task::next_token_task).
Probe make_probe(const Task& task, int size, Rng& rng);

// One logged point. [L, H] matrices are indexed [layer, head].
struct DynamicsPoint {
    int step = 0;
    double loss = 0.0;         // mean loss per scored position of the probe batch
    double repeat_loss = 0.0;  // mean loss on the scored second copies; NaN unless a next-token task
    // Mean over the scored positions of the probe batch of -sum_j A[i, j] ln A[i, j] (nats).
    Eigen::MatrixXd entropy;
    // On the repeated sequences, for every position i of the second copy (i = first + n + k):
    // previous-token score = mean A[i, i-1]; induction (prefix-matching) score = mean over i of the
    // attention summed over the keys j + 1 such that j < i holds the same token as i (MATH.md,
    // "Induction heads", with R = 2 repeats). When r has distinct tokens that key is i - n + 1 alone.
    Eigen::MatrixXd prev_token, induction;
    // Tasks with token kinds only (else empty): at scored positions, the attention mass on keys that
    // are distinct (kind 1) / common (kind 2) tokens, and that mass divided by the number of such
    // keys the query sees (attention per key), each averaged over the scored positions.
    Eigen::MatrixXd distinct_mass, common_mass, distinct_per_key, common_per_key;
    // Tasks with a query token only (else empty): [L * H, d_vocab], row l*H + h is the token QK
    // circuit row of the query token, (W_E[q] W_Q) (W_E W_K)^T / attn_scale (raw weights, no biases).
    Eigen::MatrixXd qk_query;
};

// Measures every quantity of DynamicsPoint on the probe with the current parameters; `work` is a
// forward-only workspace.
DynamicsPoint measure_dynamics(const Params<float>& params, const Task& task, const Probe& probe,
                               Backprop<float>& work, int step);

}  // namespace circuits::train
