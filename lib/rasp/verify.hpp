// Checking a compiled model against the evaluator on every short input and on random inputs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lib/model.hpp"
#include "lib/rasp/program.hpp"

namespace circuits::rasp {

// Numerical outputs agree when |got - want| <= atol + rtol |want| (RASP.md).
inline constexpr double kVerifyAtol = 1e-6;
inline constexpr double kVerifyRtol = 5e-3;

struct VerifyOptions {
    int random_inputs = 200;    // lengths uniform in [1, max_len], tokens uniform
    int exhaustive_length = 4;  // every input of length 1..min(this, max_len)
    std::uint64_t seed = 0;
    int threads = 0;  // forward passes in parallel (0 = all cores)
};

struct Mismatch {
    std::vector<Value> input;
    int position = 0;
    std::string expected;  // the evaluator's value
    std::string got;       // the model's reading
};

struct VerifyReport {
    int exhaustive = 0;                // inputs checked by enumeration
    int random = 0;                    // random inputs checked
    int evaluator_errors = 0;          // inputs skipped because the evaluator fails on them
    std::optional<Mismatch> mismatch;  // the first one found (enumeration first, then random)
};

// Runs `model` (compiled from `program`) and the evaluator on the inputs VerifyOptions describes
// and compares every position: categorical outputs exactly (none included), numerical ones within
// kVerifyAtol / kVerifyRtol (positions where the evaluator gives none are skipped).
VerifyReport verify(const Program& program, const Model& model, const VerifyOptions& options = {});

// "a b c" for messages.
std::string join_values(const std::vector<Value>& values);

}  // namespace circuits::rasp
