// The composition graph: heads as nodes by layer, Q/K/V-composition above the random baseline as edges.
#pragma once

#include "reports/report_context.hpp"

#include <string>
#include <vector>

namespace circuits::reports {

// One edge: head (l1, h1) writes what head (l2, h2) reads through its queries, keys or values.
struct CompositionEdge {
    std::string kind;  // "q", "k", "v"
    int l1 = 0, h1 = 0, l2 = 0, h2 = 0;
    double z = 0.0, raw = 0.0;
};

// Every pair l1 < l2 of every kind with z-scores whose z is finite and >= z_threshold, in kind, then
// pair order. Kinds without z-scores in the results file contribute none.
std::vector<CompositionEdge> composition_edges(const std::vector<Composition>& kinds, int n_layers, int n_heads,
                                               double z_threshold);

// What a head writes, named by the model's residual labels: the distinct prefixes (before ':') of
// the residual dimensions W_O[h] writes to (squared column norm above 1e-6 of the largest), in label
// order. Empty when the model has no residual labels. For compiled models these are s-op names.
std::vector<std::string> head_writes(const Model& model, int layer, int head);

// <figure> with the graph as inline SVG (id "composition-graph"; nodes "node-L{l}H{h}", edges
// "edge-{kind}-L{l1}H{h1}-L{l2}H{h2}", each with a <title>) and a caption stating the threshold;
// a note instead when there are no z-scores or fewer than two layers.
std::string composition_graph_html(const ReportContext& ctx);

}  // namespace circuits::reports
