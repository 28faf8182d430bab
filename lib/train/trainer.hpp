// Training an attention-only transformer on a task: batches over the cores, AdamW, logged dynamics.
#pragma once

#include "lib/model.hpp"
#include "lib/train/adamw.hpp"
#include "lib/train/dynamics.hpp"
#include "lib/train/task.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace circuits::train {

struct TrainOptions {
    int n_layers = 2;
    int n_heads = 4;
    int d_model = 64;
    int d_head = 16;
    int d_mlp = 0;  // 0 = attention-only
    PositionalEmbedding positions = PositionalEmbedding::standard;
    Normalization normalization = Normalization::none;

    int steps = 2000;
    int batch = 32;               // sequences per step
    AdamWOptions optimiser;       // total_steps is set from `steps`
    int warmup_steps = -1;        // -1 = min(100, steps / 10)
    std::uint64_t seed = 0;
    int log_every = 50;           // dynamics on the probe every N steps (and at steps 0 and `steps`)
    int checkpoints = 8;          // models kept at log-spaced steps (see checkpoint_steps)
    int probe_size = 32;          // sequences in each probe batch
    int threads = 0;              // 0 = hardware concurrency; results do not depend on it
    int chunk = 8;                // sequences per gradient chunk; results do depend on it

    // Resuming (lib/train/resume_state.hpp). With a resume_path the state is saved there every
    // save_every steps (0 = every log_every steps); with `resume` a state found there is continued
    // (options must match, else UsageError), none found = a fresh start.
    std::string resume_path;
    int save_every = 0;
    bool resume = false;
    std::string resume_key;  // the caller's further options that must match (the task's)
    int stop_after = 0;      // stop after this step with the state saved (0 = run to the end)
};

struct TrainingRecord {
    std::string task, task_spec;
    TrainOptions options;                // as run (warm-up and total steps resolved)
    std::vector<float> loss;             // [steps] mean loss per scored position of each step's batch
    std::vector<float> grad_norm;        // [steps] global gradient norm before clipping
    std::vector<double> learning_rate;   // [steps]
    std::vector<DynamicsPoint> dynamics;  // at steps 0, log_every, 2 log_every, ..., steps
    std::vector<int> checkpoint_steps;
    std::vector<Model> checkpoints;      // the model after each checkpoint step (0 = initialisation)
    double seconds = 0.0;                // wall time of the training loop (probes and checkpoints included)
    int threads = 1;                     // threads used
    std::string command;                 // the command line, when the caller records it
};

struct TrainResult {
    Model model;  // origin = trained, vocabularies and BOS of the task
    TrainingRecord record;
    bool complete = true;  // false when stopped at options.stop_after
    int resumed_from = 0;  // the step a resume state continued from (0 = a fresh run)
};

struct TrainProgress {
    int step = 0, steps = 0;
    double loss = 0.0;              // this step's loss
    double steps_per_second = 0.0;  // since the start of training
};
using ProgressCallback = std::function<void(const TrainProgress&)>;

// The model config a run with `options` on `task` builds (no weights).
ModelConfig train_config(const Task& task, const TrainOptions& options);

// Step numbers at which checkpoints are kept: 0, then `count - 1` steps log-spaced from 1 to
// `steps` (round(steps^(k / (count - 2))), k = 0..count-2), duplicates dropped; count = 1 keeps only
// the last step, count = 0 none.
std::vector<int> checkpoint_steps(int steps, int count);

// Trains a fresh model on `task`. The same seed, options and chunk size give the same model bit for
// bit whatever the number of threads: each chunk's gradient is computed by one thread into its own
// buffer and the buffers are summed in chunk order. `progress` is called after every step.
// Throws UsageError for invalid options.
TrainResult train(const Task& task, const TrainOptions& options, const ProgressCallback& progress = {});

}  // namespace circuits::train
