// Training dynamics measured on fixed probe batches: loss, attention entropy, previous-token and
// induction scores, and (for tasks with distinct/common tokens) where the attention mass goes.
#pragma once

#include "lib/probe.hpp"
#include "lib/train/backprop.hpp"
#include "lib/train/task.hpp"

#include <Eigen/Dense>

namespace circuits::train {

// Probe batches drawn once, before training, and reused at every logged step.
struct DynamicsProbe {
    std::vector<Example> batch;  // samples of the task
    // The repeated-sequence probe of the induction pass (lib/probe.hpp) with its default shape;
    // empty when n_ctx cannot hold 2 repeats of 2 tokens.
    RepeatedProbe repeated;
    // repeated's sequences as examples: for next-token tasks (Task::next_token_task) every position in
    // repeats >= 2 but the last is scored (target = the next token), else none is.
    std::vector<Example> repeated_examples;
};

// `size` task samples from `rng`, then `size` repeated sequences drawn with a seed taken from `rng`
// (make_repeated_probe on the task's vocabulary, BOS and n_ctx; shape 25 x 4, shrunk to fit).
DynamicsProbe make_dynamics_probe(const Task& task, int size, Rng& rng);
// The examples of a given repeated probe (`size` task samples from `rng` in `batch`).
DynamicsProbe make_dynamics_probe(const Task& task, int size, Rng& rng, RepeatedProbe repeated);

// One logged point. [L, H] matrices are indexed [layer, head].
struct DynamicsPoint {
    int step = 0;
    double loss = 0.0;         // mean loss per scored position of the probe batch
    double repeat_loss = 0.0;  // mean loss on the scored repeats >= 2; NaN unless a next-token task
    // Mean over the scored positions of the probe batch of -sum_j A[i, j] ln A[i, j] (nats).
    Eigen::MatrixXd entropy;
    // On the repeated sequences: the previous-token and induction scores of lib/head_scores.hpp, the
    // same definition (and on a probe of the same kind) as the induction pass's.
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
DynamicsPoint measure_dynamics(const Params<float>& params, const Task& task, const DynamicsProbe& probe,
                               Backprop<float>& work, int step);

}  // namespace circuits::train
