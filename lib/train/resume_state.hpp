// The resume state of a training run: everything a killed run needs to continue bit for bit.
//
// `circuits train -o OUT` keeps it at OUT.resume (resume_state_path), replaced atomically
// (temporary + rename) every --save-every steps and removed once OUT is written. Batches are not a
// pure function of the step (the data generator draws a varying number of values per example), so
// the data generator's state is saved; the probe batches and the initialisation are redrawn from the
// seed. The file is binary, host byte order (it is a scratch file for the same machine and build):
//   "circuits-resume 1\n", u64 payload size, payload, u64 FNV-1a hash of the payload;
//   payload: fingerprint (the options that must match), steps done, seconds so far, parameters,
//   AdamW first and second moments, data generator state, loss / grad_norm / learning_rate of each
//   step done, the dynamics points and the checkpoints (flat parameters) so far.
#pragma once

#include "lib/train/dynamics.hpp"
#include "lib/train/rng.hpp"
#include "lib/train/task.hpp"

#include <string>
#include <vector>

namespace circuits::train {

struct TrainOptions;

struct ResumeState {
    std::string fingerprint;  // resume_fingerprint of the run
    int step = 0;             // steps done
    double seconds = 0.0;     // training time so far
    std::vector<float> params, adam_m, adam_v;  // [P] each, the flat layout of Params
    Rng::State data_rng;
    std::vector<float> loss, grad_norm;  // [step]
    std::vector<double> learning_rate;   // [step]
    std::vector<DynamicsPoint> dynamics;
    std::vector<std::vector<float>> checkpoints;  // [checkpoints so far][P]
};

// Where `circuits train -o output` keeps its resume state.
std::string resume_state_path(const std::string& output);

// "name=value" lines of every option that changes the result (task spec, resolved options but the
// thread count, options.resume_key); a resume whose fingerprint differs is refused.
std::string resume_fingerprint(const Task& task, const TrainOptions& resolved);

// Writes `state` to `path` atomically. Throws Error naming the file.
void write_resume_state(const std::string& path, const ResumeState& state);

// Reads a state back; throws Error naming the file when it is truncated, corrupt or not a state.
ResumeState read_resume_state(const std::string& path);
// Throws the error for a resume state at `path` that cannot be used: "PATH: corrupt resume state (WHAT);
// delete it to start afresh".
[[noreturn]] void corrupt_resume_state(const std::string& path, const std::string& what);

// Throws UsageError naming the file and the first option that differs when the fingerprints differ.
void check_resume_fingerprint(const std::string& path, const std::string& saved, const std::string& now);

}  // namespace circuits::train
