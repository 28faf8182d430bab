// The comparison page: renders a compare.h5 file (written by `circuits compare`) as index.html.
#pragma once

#include <string>

namespace circuits::reports {

// Reads `compare_h5` (group /compare, root attributes model_a / model_b) and the two models it
// names, and writes `out_html`: behaviour figures, the head similarity heatmap, the matched pairs
// side by side (attention on the same probe, top OV and QK tokens) and the composition edges.
void write_compare_page(const std::string& compare_h5, const std::string& out_html);

}  // namespace circuits::reports
