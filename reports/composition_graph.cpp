// The composition graph as inline SVG: layer columns of head nodes, class colours, z-thresholded edges.
#include "reports/composition_graph.hpp"

#include "reports/html.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace circuits::reports {

std::vector<CompositionEdge> composition_edges(const std::vector<Composition>& kinds, int n_layers, int n_heads,
                                               double z_threshold) {
    std::vector<CompositionEdge> out;
    for (const auto& c : kinds) {
        if (!c.z) continue;
        for (int l1 = 0; l1 < n_layers; ++l1)
            for (int h1 = 0; h1 < n_heads; ++h1)
                for (int l2 = l1 + 1; l2 < n_layers; ++l2)
                    for (int h2 = 0; h2 < n_heads; ++h2) {
                        const double z = c.z->at({l1, h1, l2, h2});
                        if (std::isfinite(z) && z >= z_threshold)
                            out.push_back({c.kind, l1, h1, l2, h2, z, c.raw.at({l1, h1, l2, h2})});
                    }
    }
    return out;
}

std::vector<std::string> head_writes(const Model& model, int layer, int head) {
    const auto& labels = model.residual_labels;
    if (labels.empty()) return {};
    // W_O[h]: [d_head, d_model]; the squared norm of each residual column it writes.
    const Matrix& W_O = model.blocks[static_cast<size_t>(layer)].attn.W_O[static_cast<size_t>(head)];
    const Eigen::VectorXd norms = W_O.cast<double>().colwise().squaredNorm().transpose();
    const double max = norms.size() ? norms.maxCoeff() : 0.0;
    std::vector<std::string> out;
    if (!(max > 0)) return out;
    for (Eigen::Index i = 0; i < norms.size() && i < static_cast<Eigen::Index>(labels.size()); ++i) {
        if (norms(i) <= 1e-6 * max) continue;
        const std::string& label = labels[static_cast<size_t>(i)];
        const std::string prefix = label.substr(0, label.find(':'));
        if (std::find(out.begin(), out.end(), prefix) == out.end()) out.push_back(prefix);
    }
    return out;
}

namespace {

std::string num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", v);
    return buf;
}

struct Kind {
    const char* key;
    const char* name;
    const char* colour;
};
constexpr Kind kKinds[] = {{"q", "Q-composition", "#1f77b4"}, {"k", "K-composition", "#d62728"},
                           {"v", "V-composition", "#2ca02c"}};
const Kind& kind_of(const std::string& key) {
    for (const auto& k : kKinds)
        if (key == k.key) return k;
    return kKinds[0];
}

// Node fill by class, first match wins: induction, previous-token, copying; else grey.
const char* node_colour(const ReportContext& ctx, int l, int h, std::string& classes) {
    static const std::pair<const char*, const char*> kFill[] = {
        {"induction", "#ff9896"}, {"prev_token", "#ffbb78"}, {"copying", "#98df8a"}};
    const char* fill = nullptr;
    for (const auto& [key, colour] : kFill)
        for (const auto& c : ctx.classes)
            if (c.key == key && c.contains(l, h)) {
                classes += (classes.empty() ? "" : ", ") + c.label;
                if (!fill) fill = colour;
            }
    return fill ? fill : "#e8e8ee";
}

constexpr double kColumn = 190.0, kRow = 64.0, kRadius = 22.0, kLeft = 70.0, kTop = 40.0;

std::string nodes_svg(const ReportContext& ctx) {
    std::string out;
    for (int l = 0; l < ctx.n_layers; ++l) {
        const double x = kLeft + kColumn * l;
        out += "<text x=\"" + num(x) + "\" y=\"18\" font-size=\"12\" text-anchor=\"middle\" font-weight=\"600\">layer " +
               std::to_string(l) + "</text>";
        for (int h = 0; h < ctx.n_heads; ++h) {
            const double y = kTop + kRow * h + kRadius;
            std::string classes;
            const char* fill = node_colour(ctx, l, h, classes);
            std::string writes;
            // A head writing into more than 3 labelled subspaces gets no label: nothing specific to name.
            if (ctx.model)
                if (const auto w = head_writes(*ctx.model, l, h); w.size() <= 3)
                    for (const auto& name : w) writes += (writes.empty() ? "" : ", ") + name;
            std::string title = head_name(l, h) + (classes.empty() ? "" : " (" + classes + ")");
            if (!writes.empty()) title += "; writes " + writes;
            out += "<a href=\"heads/" + head_page_name(l, h) + "\"><g id=\"node-" + head_name(l, h) +
                   "\" class=\"node\"><title>" + escape_html(title) + "</title><circle cx=\"" + num(x) + "\" cy=\"" +
                   num(y) + "\" r=\"" + num(kRadius) + "\" fill=\"" + fill +
                   "\" stroke=\"#555\"/><text x=\"" + num(x) + "\" y=\"" + num(y + 4) +
                   "\" font-size=\"11\" text-anchor=\"middle\">" + head_name(l, h) + "</text>";
            if (!writes.empty())
                out += "<text x=\"" + num(x) + "\" y=\"" + num(y + kRadius + 11) +
                       "\" font-size=\"9\" text-anchor=\"middle\" fill=\"#444\">" +
                       escape_html(truncate_utf8(writes, 22)) + "</text>";
            out += "</g></a>";
        }
    }
    return out;
}

std::string edges_svg(const std::vector<CompositionEdge>& edges) {
    std::string out;
    for (size_t i = 0; i < edges.size(); ++i) {
        const auto& e = edges[i];
        const Kind& k = kind_of(e.kind);
        const double x1 = kLeft + kColumn * e.l1 + kRadius, y1 = kTop + kRow * e.h1 + kRadius;
        const double x2 = kLeft + kColumn * e.l2 - kRadius, y2 = kTop + kRow * e.h2 + kRadius;
        // Q, K and V edges of one pair bend apart so that all three stay visible.
        const double bend = (e.kind == "q" ? -1 : e.kind == "k" ? 0 : 1) * 18.0;
        const double width = std::clamp(1.0 + std::log10(std::max(e.z, 1.0)) * 1.5, 1.0, 5.0);
        const std::string name = head_name(e.l1, e.h1) + "-" + head_name(e.l2, e.h2);
        out += "<g id=\"edge-" + e.kind + "-" + name + "\" class=\"edge\" data-kind=\"" + e.kind + "\"><title>" +
               escape_html(head_name(e.l1, e.h1) + " → " + head_name(e.l2, e.h2) + " " + k.name + ": z " +
                           format_number(e.z) + ", raw " + format_number(e.raw)) +
               "</title><path d=\"M" + num(x1) + "," + num(y1) + " Q" + num((x1 + x2) / 2) + "," +
               num((y1 + y2) / 2 + bend) + " " + num(x2) + "," + num(y2) + "\" fill=\"none\" stroke=\"" + k.colour +
               "\" stroke-width=\"" + num(width) + "\" marker-end=\"url(#arrow-" + e.kind + ")\"/></g>";
    }
    return out;
}

std::string legend_svg(double y) {
    std::string out;
    double x = 10;
    for (const auto& k : kKinds) {
        out += "<line x1=\"" + num(x) + "\" y1=\"" + num(y) + "\" x2=\"" + num(x + 24) + "\" y2=\"" + num(y) +
               "\" stroke=\"" + k.colour + "\" stroke-width=\"2.5\"/><text x=\"" + num(x + 28) + "\" y=\"" +
               num(y + 4) + "\" font-size=\"10\">" + k.name + "</text>";
        x += 120;
    }
    for (const auto& [label, fill] : {std::pair{"induction", "#ff9896"}, std::pair{"previous-token", "#ffbb78"},
                                      std::pair{"copying", "#98df8a"}}) {
        out += "<circle cx=\"" + num(x + 6) + "\" cy=\"" + num(y) + "\" r=\"6\" fill=\"" + fill +
               "\" stroke=\"#555\"/><text x=\"" + num(x + 16) + "\" y=\"" + num(y + 4) + "\" font-size=\"10\">" +
               label + "</text>";
        x += 100;
    }
    return out;
}

}  // namespace

std::string composition_graph_html(const ReportContext& ctx) {
    if (ctx.n_layers < 2) return note("One layer: no composition graph.");
    bool any_z = false;
    for (const auto& c : ctx.compositions) any_z = any_z || c.z.has_value();
    if (!any_z) return note("No composition z-scores in the results file: no composition graph.");
    const double z = ctx.options.edge_z;
    const auto edges = composition_edges(ctx.compositions, ctx.n_layers, ctx.n_heads, z);
    const double width = std::max(kLeft * 2 + kColumn * (ctx.n_layers - 1), 680.0);
    const double height = kTop + kRow * ctx.n_heads + 36;
    std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"composition-graph\" class=\"graph\" width=\"" +
                      num(width) + "\" height=\"" + num(height) + "\" viewBox=\"0 0 " + num(width) + " " +
                      num(height) + "\" role=\"img\"><defs>";
    for (const auto& k : kKinds)
        svg += "<marker id=\"arrow-" + std::string(k.key) +
               "\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"10\" markerHeight=\"10\" "
               "markerUnits=\"userSpaceOnUse\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"" + k.colour + "\"/></marker>";
    svg += "</defs>" + edges_svg(edges) + nodes_svg(ctx) + legend_svg(height - 14) + "</svg>";
    std::string kinds;
    for (const auto& c : ctx.compositions)
        if (c.z) kinds += (kinds.empty() ? "" : ", ") + c.kind;
    return "<figure>" + svg + "<figcaption id=\"composition-graph-caption\">Composition graph: an edge from an "
           "earlier head to a later one for every Q-, K- or V-composition score whose z-score against the random "
           "baseline (<code>/composition/{q,k,v}_z</code>) is at least <b>" + escape_html(format_number(z)) +
           "</b> (" + std::to_string(edges.size()) + " edges; kinds with z-scores: " + escape_html(kinds) +
           "). Node colour: head class from the induction pass; the label under a node names the residual "
           "subspaces the head writes (the program's s-ops on compiled models). Hover an edge for its z and raw "
           "score.</figcaption></figure>\n";
}

}  // namespace circuits::reports
