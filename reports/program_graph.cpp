// Drawing a compiled program's graph: columns by sub-layer, boxes per s-op, arrows per input.
#include "reports/program_graph.hpp"

#include <algorithm>
#include <map>

#include "lib/error.hpp"
#include "lib/rasp/program.hpp"
#include "reports/html.hpp"

namespace circuits::reports {

namespace {

constexpr int kBoxWidth = 196;
constexpr int kBoxHeight = 46;
constexpr int kColumnWidth = 228;
constexpr int kRowHeight = 64;
constexpr int kTop = 64;   // below the column titles
constexpr int kLeft = 16;

// The column of an s-op: 0 for the embedding, 1 + sub-layer otherwise (its first block).
int column(const rasp::PlacedSop& s) {
    return s.first_sublayer < 0 ? 0 : s.first_sublayer + 1;
}

std::string fill(const rasp::PlacedSop& s) {
    if (s.kind == "tokens" || s.kind == "indices") return "#e8e8e8";
    if (s.kind == "aggregate") return "#d6e6fa";
    if (s.kind == "selector_width") return "#e4dcf7";
    if (s.kind == "joint") return "#fbe3c8";
    return "#d8f0d8";  // map, sequence_map
}

// "L1 H0", "L0 MLP", "L2 H1 + MLP", "embedding".
std::string block_label(const rasp::PlacedSop& s) {
    if (s.first_sublayer < 0) return "embedding";
    const int layer = s.first_sublayer / 2;
    std::string out = "L" + std::to_string(layer) + " ";
    if (s.first_sublayer % 2 == 0) {
        out += "H" + std::to_string(std::max(0, s.head));
        if (s.last_sublayer > s.first_sublayer) out += " + MLP";
    } else {
        out += "MLP";
    }
    return out;
}

std::string column_title(int c) {
    if (c == 0) return "embedding";
    const int sub = c - 1;
    return "layer " + std::to_string(sub / 2) + (sub % 2 == 0 ? " attention" : " MLP");
}

std::string shorten(const std::string& s, size_t n) {
    return s.size() <= n ? s : s.substr(0, n - 1) + "…";
}

}  // namespace

std::string program_graph_svg(const rasp::CompiledGraph& graph) {
    int columns = 1;
    for (const auto& s : graph.sops) columns = std::max(columns, column(s) + 1);
    columns = std::max(columns, 2 * graph.n_layers + 1);
    std::vector<int> rows(static_cast<size_t>(columns), 0);
    std::vector<std::pair<int, int>> at(graph.sops.size());  // box top-left
    for (size_t i = 0; i < graph.sops.size(); ++i) {
        const int c = column(graph.sops[i]);
        at[i] = {kLeft + c * kColumnWidth, kTop + rows[static_cast<size_t>(c)]++ * kRowHeight};
    }
    const int height = kTop + std::max(1, *std::max_element(rows.begin(), rows.end())) * kRowHeight + 8;
    const int width = kLeft + columns * kColumnWidth;
    std::string out = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"program-graph\" width=\"" +
                      std::to_string(width) + "\" height=\"" + std::to_string(height) + "\" viewBox=\"0 0 " +
                      std::to_string(width) + " " + std::to_string(height) +
                      "\" font-family=\"sans-serif\" font-size=\"12\">\n"
                      "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" "
                      "markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" "
                      "fill=\"#666\"/></marker></defs>\n";
    for (int c = 0; c < columns; ++c) {
        const int x = kLeft + c * kColumnWidth;
        if (c > 0 && (c - 1) % 2 == 0)
            out += "<rect x=\"" + std::to_string(x - 8) + "\" y=\"8\" width=\"" + std::to_string(2 * kColumnWidth) +
                   "\" height=\"" + std::to_string(height - 12) + "\" fill=\"#fafafa\" stroke=\"#ddd\"/>\n";
        out += "<text x=\"" + std::to_string(x + kBoxWidth / 2) + "\" y=\"" + std::to_string(c == 0 ? 30 : 44) +
               "\" text-anchor=\"middle\" fill=\"#444\">" + column_title(c) + "</text>\n";
        if (c > 0 && (c - 1) % 2 == 0)
            out += "<text x=\"" + std::to_string(x + kColumnWidth - 8) + "\" y=\"26\" text-anchor=\"middle\" "
                   "font-weight=\"bold\" fill=\"#333\">layer " + std::to_string((c - 1) / 2) + "</text>\n";
    }
    for (size_t i = 0; i < graph.sops.size(); ++i)
        for (int in : graph.sops[i].inputs) {
            if (in < 0) continue;
            const auto [x0, y0] = at[static_cast<size_t>(in)];
            const auto [x1, y1] = at[i];
            const int ax = x0 + kBoxWidth, ay = y0 + kBoxHeight / 2, bx = x1, by = y1 + kBoxHeight / 2;
            const int mid = (ax + bx) / 2;
            out += "<path class=\"edge\" d=\"M " + std::to_string(ax) + " " + std::to_string(ay) + " C " +
                   std::to_string(mid) + " " + std::to_string(ay) + ", " + std::to_string(mid) + " " +
                   std::to_string(by) + ", " + std::to_string(bx) + " " + std::to_string(by) +
                   "\" fill=\"none\" stroke=\"#888\" marker-end=\"url(#arrow)\"/>\n";
        }
    for (size_t i = 0; i < graph.sops.size(); ++i) {
        const rasp::PlacedSop& s = graph.sops[i];
        const auto [x, y] = at[i];
        out += "<g class=\"sop\" data-kind=\"" + escape_html(s.kind) + "\" data-block=\"" +
               escape_html(block_label(s)) + "\"><title>" + escape_html(s.name + ": " + s.kind) +
               (s.selector.empty() ? "" : escape_html(" of " + s.selector)) + "</title>";
        out += "<rect x=\"" + std::to_string(x) + "\" y=\"" + std::to_string(y) + "\" width=\"" +
               std::to_string(kBoxWidth) + "\" height=\"" + std::to_string(kBoxHeight) + "\" rx=\"6\" fill=\"" +
               fill(s) + "\" stroke=\"#555\"/>";
        out += "<text x=\"" + std::to_string(x + 8) + "\" y=\"" + std::to_string(y + 18) +
               "\" font-weight=\"bold\">" + escape_html(shorten(s.name, 26)) + "</text>";
        out += "<text x=\"" + std::to_string(x + 8) + "\" y=\"" + std::to_string(y + 36) + "\" fill=\"#333\">" +
               escape_html(s.kind + " · " + block_label(s)) + "</text></g>\n";
    }
    out += "</svg>\n";
    return out;
}

std::string program_graph_svg(const Model& model) {
    rasp::Program program = rasp::parse_program(model.program_source, "program/source");
    rasp::ProgramOverrides o;
    std::vector<rasp::Value> vocab;
    for (size_t t = 1; t < model.vocab.size(); ++t) vocab.push_back(rasp::Value::from_token(model.vocab[t]));
    if (!vocab.empty()) o.vocab = vocab;
    o.max_len = model.cfg.n_ctx - 1;
    o.causal = model.cfg.causal;
    rasp::apply_overrides(program, o);
    rasp::CompiledGraph graph;
    rasp::compile(program, rasp::CompileOptions{}, graph);
    return program_graph_svg(graph);
}

std::string program_graph_html(const Model& model) {
    if (model.program_source.empty()) return "";
    std::string out = "<h3>Program graph</h3>\n";
    try {
        out += "<div id=\"program-graph\" style=\"overflow-x:auto;border:1px solid #ddd\">" +
               program_graph_svg(model) + "</div>\n";
    } catch (const Error& e) {
        return out + "<p id=\"program-graph\">The stored program does not compile here: " + escape_html(e.what()) +
               "</p>\n";
    }
    return out +
           "<p>Each s-op in the sub-layer that computes it: grey the embedding, blue an aggregate's head, "
           "violet a selector_width (head and MLP), green a map's MLP, orange the joint s-op a selector over "
           "several s-ops compares.</p>\n";
}

}  // namespace circuits::reports
