// The trained model file: an ordinary model file plus the /training group, written in one atomic step.
//
// Layout of /training (K logged points, L layers, H heads, C checkpoints, S steps):
//   attributes: task, task_spec, command (the command line, when given), seed, steps, batch, lr,
//     beta1, beta2, eps, weight_decay, warmup_steps, min_lr_ratio, grad_clip, chunk, log_every,
//     checkpoints, probe_size, threads, seconds, steps_per_second, circuits_version,
//     init ("normal(0, 0.8/sqrt(d_model)) weights, zero biases, unit LN scales")
//   /training/loss              [S] float32  mean loss (nats per scored position) of steps 1..S
//   /training/grad_norm         [S] float32  gradient norm before clipping
//   /training/learning_rate     [S] float64
//   /training/task              attributes and datasets of the task (bigram: transition [V, V]
//                               float64, row = current token; scan-snap: token_kind [V] int64;
//                               program: attributes program, output_sop, max_len, causal and the
//                               dataset source; the root model also holds /program/source and
//                               /program/output, as compiled models do)
//   /training/dynamics/step     [K] int64    0, log_every, 2 log_every, ..., S
//   /training/dynamics/loss     [K] float64  probe-batch loss
//   /training/dynamics/repeat_loss          [K] float64  next-token tasks only
//   /training/dynamics/entropy, prev_token, induction     [K, L, H] float64  (L > 0 only)
//   /training/dynamics/distinct_mass, common_mass, distinct_per_key, common_per_key
//                                           [K, L, H] float64  tasks with token kinds (scan-snap)
//   /training/dynamics/qk_query [K, L, H, d_vocab] float64  tasks with a query token (scan-snap)
//   /training/checkpoints/step  [C] int64
//   /training/checkpoints/{i}   the model after step[i], with the root's attributes and dataset names
// The definitions of the dynamics are those of lib/train/dynamics.hpp.
#pragma once

#include "lib/train/trainer.hpp"

#include <Eigen/Dense>

#include <string>
#include <vector>

namespace circuits::train {

// Writes result.model with origin = trained and /training, atomically.
void write_trained_model(const std::string& path, const TrainResult& result, const Task& task);

// The curves of /training, read back (for tests and reports).
struct TrainingCurves {
    std::string task, task_spec;
    std::vector<float> loss;  // [S]
    std::vector<std::int64_t> steps;  // [K]
    std::vector<double> probe_loss, repeat_loss;  // [K]; repeat_loss empty when absent
    int layers = 0, heads = 0;
    // [K] matrices [L, H]; empty when absent
    std::vector<Eigen::MatrixXd> entropy, prev_token, induction, distinct_mass, common_mass, distinct_per_key,
        common_per_key;
    std::vector<std::int64_t> checkpoint_steps;  // [C]
};

// Throws Error naming the file and dataset when /training is absent or malformed.
TrainingCurves read_training(const std::string& path);

// Checkpoint `index` of a trained model file, as a Model (config and vocabularies of the root model).
Model read_checkpoint(const std::string& path, int index);

}  // namespace circuits::train
