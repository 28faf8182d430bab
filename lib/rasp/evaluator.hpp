// The RASP evaluator: runs a program on an input and returns each position's value (or none).
#pragma once

#include <string>
#include <vector>

#include "lib/rasp/program.hpp"

namespace circuits::rasp {

// Semantics (RASP.md, with the cases it leaves open made explicit):
//   select(k, q, p)[i][j] = p(k[j], q[i]); a none key or query is never selected, and `not`
//     keeps that (it only flips pairs where both are defined); with `causal`, query i selects
//     only keys j <= i.
//   aggregate: the default where nothing is selected; numerical: the mean of the selected values
//     (none if one of them is none); categorical: the selected value when all selected values are
//     equal, none when they differ (a categorical value has no mean).
//   selector_width: how many keys are selected; map / sequence_map: none in, none out.
// Throws Error "FILE:LINE:COL: ... at position i" when a function fails (division by zero, a
// type mismatch) or a numerical aggregate meets a non-number.
std::vector<Value> evaluate(const Program& program, const std::vector<Value>& input);

// Every node's values on `input` ([node][position]); nodes the output does not use are empty.
std::vector<std::vector<Value>> evaluate_all(const Program& program, const std::vector<Value>& input);

// Input strings -> token values, matched against the vocabulary by their printed form ("1"
// matches the number 1). Throws Error naming a token that is not in the vocabulary or an input
// longer than max_len. Without a vocabulary each string is read with Value::from_token.
std::vector<Value> tokens_from_strings(const Program& program, const std::vector<std::string>& input);

}  // namespace circuits::rasp
