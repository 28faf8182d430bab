// layers/L{l}.html: the attention viewer over every head of one layer.
#include "reports/attention_viewer.hpp"
#include "reports/html.hpp"
#include "reports/report_context.hpp"

namespace circuits::reports {

std::string render_layer_page(const ReportContext& ctx, int layer) {
    std::string body = "<nav><a href=\"../index.html\">index</a>";
    if (layer > 0) body += "<a href=\"" + layer_page_name(layer - 1) + "\">← previous layer</a>";
    if (layer + 1 < ctx.n_layers) body += "<a href=\"" + layer_page_name(layer + 1) + "\">next layer →</a>";
    body += "</nav>\n<h1>Layer " + std::to_string(layer) + ": attention of every head</h1>\n<p>Head pages:";
    std::vector<std::pair<int, int>> heads;
    for (int h = 0; h < ctx.n_heads; ++h) {
        heads.emplace_back(layer, h);
        body += " <a href=\"../heads/" + head_page_name(layer, h) + "\">" + head_name(layer, h) + "</a>";
        for (const auto& c : ctx.classes)
            if (c.contains(layer, h)) body += " <span class=\"badge\">" + escape_html(c.label) + "</span>";
    }
    body += "</p>\n<p>Pick a head (its thumbnail shows its pattern), then hover or focus a token (Tab, then the "
            "arrow keys) to shade the tokens it attends to.</p>\n";
    const std::string viewer = attention_viewer_html(ctx, heads, "viewer");
    body += viewer.empty() ? note("No attention viewer: the model file was not read.") : viewer;
    return html_page("Layer " + std::to_string(layer) + " — circuits report", body, "../report.js");
}

}  // namespace circuits::reports
