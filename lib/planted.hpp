// Models whose weights are built by hand to hold known circuits: ground truth for the analyses.
#pragma once

#include "lib/model.hpp"

#include <cstdint>

namespace circuits {

struct PlantedInductionOptions {
    int n_tokens = 24;        // ordinary tokens "a", "b", ...; "<BOS>" is added as token 0
    int n_ctx = 128;
    double sharpness = 20.0;  // attention logit of a planted match, after the 1/sqrt(d_head) scaling
    double unembed_scale = 10.0;
    double noise_heads_std = 0.1;  // Q, K, V of the unplanted heads; their W_O uses std / 10
    std::uint64_t seed = 1234;
};

// A two-layer, two-heads-per-layer attention-only model with standard positions and no LN:
//   L0H0: previous-token head (query position p attends to key position p-1) whose OV writes the
//         attended token into a "prev:" subspace;
//   L1H0: induction head: queries read the current token, keys read "prev:", so position i attends
//         to the position after an earlier occurrence of its token; its OV copies that token into
//         an "out:" subspace that W_U reads (copying). With no earlier occurrence it attends to BOS,
//         which writes nothing.
//   L0H1, L1H1: small Gaussian heads (fixed seed) that carry no planted circuit.
// Residual subspaces (labelled): one, tok:*, pos:*, prev:*, out:*; d_head = n_ctx.
Model planted_induction_model(const PlantedInductionOptions& options = {});

}  // namespace circuits
