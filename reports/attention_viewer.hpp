// The attention viewer: an input's tokens, hover/focus a token to shade where it attends, and the heatmap.
#pragma once

#include "reports/report_context.hpp"

#include <string>
#include <utility>
#include <vector>

namespace circuits::reports {

// Markup of one viewer: <div class="viewer" id="ID" data-json="ID-data"> (built by report.js) and its
// data, <script type="application/json" id="ID-data">, holding every input of the context (the probe
// first, then ReportOptions::inputs) with the patterns of `heads` (layer, head), in that order. Each
// pattern is [T query, T key] as base64 bytes round(255 × weight), row-major. Without JavaScript the
// page shows the static probe heatmap instead. "" when the context has no input.
std::string attention_viewer_html(const ReportContext& ctx, const std::vector<std::pair<int, int>>& heads,
                                  const std::string& id);

// A JSON string literal of `s` that is also safe as XML/HTML text: ", \\ and control characters
// escaped, and <, >, & written as \u003c, \u003e, \u0026.
std::string json_string(const std::string& s);

// Standard base64 (RFC 4648, with padding).
std::string base64(const std::vector<unsigned char>& bytes);

}  // namespace circuits::reports
