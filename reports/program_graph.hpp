// The computation graph of a compiled RASP program as an SVG picture: s-ops by layer and sub-layer.
#pragma once

#include <string>

#include "lib/model.hpp"
#include "lib/rasp/compiler.hpp"

namespace circuits::reports {

// An SVG drawing of `graph`: one column per sub-layer (the embedding, then each layer's attention
// and MLP), each s-op a box in the column where its block sits, labelled with its name, its kind
// and its head ("L1 H0") or MLP ("L1 MLP"); arrows from the s-ops (and joint s-ops) it reads.
// A box's tooltip gives the selector of an aggregate / selector_width.
std::string program_graph_svg(const rasp::CompiledGraph& graph);

// The graph of a compiled model's program (Model::program_source), compiled again (a few
// milliseconds) with the model's own vocabulary (less BOS), max_len (n_ctx - 1) and mask, so that
// the placement is the model's. Throws Error when the source does not compile.
std::string program_graph_svg(const Model& model);

// The report's program-graph block: a heading, the picture in a scrolling box and a one-line key;
// for a model without program source "", and a note in place of the picture if it fails to compile.
std::string program_graph_html(const Model& model);

}  // namespace circuits::reports
