// The default of every analysis option, written once: AnalysisOptions (registry.hpp), the CLI (which
// reads AnalysisOptions{}) and each pass's own option struct take their initialisers from here.
#pragma once

#include <cstdint>

namespace circuits::analyses::defaults {

inline constexpr int top_k = 10;               // bigram / circuits: top entries kept per row
inline constexpr std::uint64_t seed = 0;       // probe tokens, random baselines
inline constexpr int baseline_samples = 1000;  // composition: random factor draws per baseline
inline constexpr double induction_threshold = 0.4;
inline constexpr double prev_token_threshold = 0.4;
inline constexpr double copying_threshold = 0.5;
inline constexpr int probe_length = 25;
inline constexpr int probe_repeats = 4;
inline constexpr int probe_sequences = 10;
inline constexpr int max_order = 2;  // path expansion: longest chain of heads

}  // namespace circuits::analyses::defaults
