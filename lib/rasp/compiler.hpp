// The RASP compiler: a program -> transformer weights (the Tracr construction, RASP.md "Compilation").
#pragma once

#include "lib/model.hpp"
#include "lib/rasp/program.hpp"

namespace circuits::rasp {

struct CompileOptions {
    bool attention_only = false;  // refuse programs that need an MLP, naming the line
};

// Weight of attention outside the intended keys that each compiled head allows (the softmax
// temperature is chosen from it, see softmax_temperature).
inline constexpr double kAttentionLeak = 1e-7;

// The attention logit c (after the model's 1/sqrt(d_head) scaling) of a selected key; unselected
// keys get 0 and BOS c/2. With n <= max_len keys, c = 2 ln(max_len / leak) bounds both the weight
// that a query with a selected key gives to BOS and to unselected keys (e^{-c/2} + n e^{-c}) and
// the weight that a query with nothing selected gives to keys other than BOS (n e^{-c/2}) by `leak`.
double softmax_temperature(int max_len, double leak = kAttentionLeak);

// Compiles `program` (with its vocabulary and max_len set) into a Model:
//   residual stream: `one`, `tokens:BOS`, `tokens:v`, `indices:i`, then `name:value` for each
//     categorical s-op and `name` for each numerical one (+ `name.bos_attn` for selector_width);
//   tokens: BOS (index 0, the model's bos_token) followed by the vocabulary; position p >= 1 of
//     the model holds RASP index p - 1, so n_ctx = max_len + 1;
//   one attention head per aggregate and selector_width, one MLP block per map, sequence_map
//     and selector_width; each node in the first attention (or MLP) sub-layer after its inputs;
//   W_U reads the output s-op: categorical -> one logit per value, minus a bias so that a logit
//     > 0 means the value is there (none: every logit < 0); numerical -> a single logit holding
//     the value. Model::output_encoding records which.
// Throws Error "FILE:LINE:COL: ..." for each restriction of RASP.md (select over a numerical s-op,
// a categorical aggregate that can select several key values, a numerical aggregate of values
// outside {0, 1}, an MLP under attention_only) and the compiler's own (see the messages).
Model compile(const Program& program, const CompileOptions& options = {});

// One block of the compiled program's graph: an s-op (or the joint s-op a selector over several
// s-ops compares) and where it was placed.
struct PlacedSop {
    int node = -1;         // index into Program::nodes; -1 for a joint s-op
    std::string name;      // the s-op's name, or "(tokens, indices)" for a joint s-op
    std::string kind;      // to_string(NodeKind), or "joint"
    std::string selector;  // aggregate / selector_width: the selector as written, "select(...) and ..."
    // Sub-layers it occupies: 2l is layer l's attention, 2l + 1 its MLP; -1 (embedding) for tokens
    // and indices. An aggregate with a cleanup MLP and selector_width use two.
    int first_sublayer = -1, last_sublayer = -1;
    int head = -1;             // its head's index in its attention layer
    std::vector<int> inputs;   // indices into CompiledGraph::sops: values and selector inputs
};

// The compiled program as a graph, in topological order, with the model's layer count and the
// least layer count the graph allows (its longest path of attention and MLP sub-layers).
struct CompiledGraph {
    std::vector<PlacedSop> sops;
    int n_layers = 0;
    int longest_path_layers = 0;
};

// compile(), also returning where each s-op was placed.
Model compile(const Program& program, const CompileOptions& options, CompiledGraph& graph);

}  // namespace circuits::rasp
