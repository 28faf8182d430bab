// Reading a compiled model's output s-op from its logits (categorical with none, or numerical).
#pragma once

#include <string>
#include <vector>

#include "lib/model.hpp"

namespace circuits::rasp {

// One position's output: none, a value of vocab_out (categorical), or a number (numerical).
struct OutputReading {
    bool none = false;
    int index = -1;     // categorical: index into vocab_out
    double number = 0;  // numerical
};

// Reads rows first_row.. of `logits` [T, d_vocab_out] as Model::output_encoding says:
// categorical: the argmax, or none when every logit is <= 0; numerical: the single logit.
// Throws Error for a model without output_encoding.
std::vector<OutputReading> read_output(const Model& model, const Matrix& logits, int first_row);

// "none", the vocab_out string, or the number as the shortest decimal that reads back exactly as
// the float32 logit.
std::string to_string(const Model& model, const OutputReading& reading);

}  // namespace circuits::rasp
