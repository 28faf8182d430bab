// index.html: the model, per-head score grids, composition heatmaps, path terms, classified heads.
#include <algorithm>
#include <cmath>
#include <filesystem>

#include "lib/results_schema.hpp"
#include "reports/composition_graph.hpp"
#include "reports/html.hpp"
#include "reports/program_graph.hpp"
#include "reports/report_context.hpp"

namespace circuits::reports {

namespace {

constexpr size_t kMaxResidualLabels = 64;
constexpr size_t kMaxVirtualBars = 10;
constexpr int kMaxHeadBars = 24;

std::string link(const std::string& href, const std::string& text_html) {
    return "<a href=\"" + escape_html(href) + "\">" + text_html + "</a>";
}

std::string head_link(int l, int h) {
    return link("heads/" + head_page_name(l, h), head_name(l, h));
}

ColourScale scale_for(ScoreRange range, const Matrix& v) {
    double max_abs = 0.0;
    for (Eigen::Index i = 0; i < v.size(); ++i)
        if (std::isfinite(v.data()[i])) max_abs = std::max(max_abs, std::abs(double(v.data()[i])));
    if (max_abs == 0.0) max_abs = 1.0;
    ColourScale s;
    switch (range) {
        case ScoreRange::unit:
            s.lo = 0, s.hi = 1;
            break;
        case ScoreRange::signed_unit:
            s.diverging = true, s.centre = 0, s.half_width = 1;
            break;
        case ScoreRange::positive:
            s.lo = 0, s.hi = max_abs;
            break;
        case ScoreRange::free:
            s.diverging = true, s.centre = 0, s.half_width = max_abs;
            break;
    }
    return s;
}

std::string score_grid(const ReportContext& ctx, const HeadScore& s) {
    Heatmap hm;
    hm.id = "grid-" + s.info.key;
    hm.rows = ctx.n_layers;
    hm.cols = ctx.n_heads;
    hm.row_axis = "layer";
    hm.col_axis = "head";
    for (int l = 0; l < ctx.n_layers; ++l) hm.row_labels.push_back("L" + std::to_string(l));
    for (int h = 0; h < ctx.n_heads; ++h) hm.col_labels.push_back("H" + std::to_string(h));
    for (int l = 0; l < ctx.n_layers; ++l)
        for (int h = 0; h < ctx.n_heads; ++h) {
            const double v = s.values(l, h);
            hm.values.push_back(v);
            hm.titles.push_back(head_name(l, h) + " " + s.info.label + ": " + format_number(v));
            hm.links.push_back("heads/" + head_page_name(l, h));
        }
    hm.scale = scale_for(s.info.range, s.values);
    hm.show_values = true;
    hm.cell = std::clamp(480.0 / std::max(ctx.n_layers, ctx.n_heads), 14.0, 48.0);
    return "<figure>" + svg_heatmap(hm) + "<figcaption><b>" + escape_html(s.info.label) + "</b> (<code>" +
           escape_html(s.info.dataset) + "</code>). " + escape_html(s.info.description) + "</figcaption></figure>\n";
}

const char* composition_name(const std::string& kind) {
    return kind == "q" ? "Q-composition" : kind == "k" ? "K-composition" : "V-composition";
}

std::string composition_heatmap(const ReportContext& ctx, const Composition& c) {
    const int L = ctx.n_layers, H = ctx.n_heads;
    // Writers: layers 0..L-2; readers: layers 1..L-1 (pairs with l1 >= l2 are undefined).
    Heatmap hm;
    hm.id = "composition-" + c.kind;
    hm.rows = (L - 1) * H;
    hm.cols = (L - 1) * H;
    hm.row_axis = "earlier head (writes)";
    hm.col_axis = "later head (reads)";
    for (int l = 0; l + 1 < L; ++l)
        for (int h = 0; h < H; ++h) hm.row_labels.push_back(head_name(l, h));
    for (int l = 1; l < L; ++l)
        for (int h = 0; h < H; ++h) hm.col_labels.push_back(head_name(l, h));
    const double centre = c.baseline_mean.value_or(0.0);
    double max_dev = 0.0;
    for (int l1 = 0; l1 + 1 < L; ++l1)
        for (int h1 = 0; h1 < H; ++h1)
            for (int l2 = 1; l2 < L; ++l2)
                for (int h2 = 0; h2 < H; ++h2) {
                    const double raw = l1 < l2 ? c.raw.at({l1, h1, l2, h2}) : std::nan("");
                    hm.values.push_back(raw);
                    if (std::isfinite(raw)) max_dev = std::max(max_dev, std::abs(raw - centre));
                    std::string t =
                        head_name(l1, h1) + " → " + head_name(l2, h2) + " " + composition_name(c.kind) + ": ";
                    if (!std::isfinite(raw))
                        t += "undefined (same or later layer)";
                    else {
                        t += format_number(raw);
                        if (c.baseline_mean) t += ", raw − baseline " + format_number(raw - *c.baseline_mean);
                        if (c.z) t += ", z " + format_number(c.z->at({l1, h1, l2, h2}));
                    }
                    hm.titles.push_back(t);
                    hm.links.push_back(l1 < l2 ? "heads/" + head_page_name(l2, h2) : "");
                }
    hm.scale.diverging = true;
    hm.scale.centre = centre;
    hm.scale.half_width = max_dev > 0 ? max_dev : 1.0;
    hm.scale.legend = c.baseline_mean ? "centred on the random baseline" : "no baseline in the file: centred on 0";
    hm.show_values = true;
    std::string caption = "<b>" + std::string(composition_name(c.kind)) + "</b> (<code>/composition/" + c.kind +
                          "</code>), raw scores ||X Y||_F / (||X||_F ||Y||_F)";
    if (c.baseline_mean)
        caption += "; random baseline " + escape_html(format_number(*c.baseline_mean)) +
                   (c.baseline_std ? " ± " + escape_html(format_number(*c.baseline_std)) : std::string());
    caption += c.z ? "; hover for raw − baseline and z." : "; hover for raw − baseline.";
    return "<figure>" + svg_heatmap(hm) + "<figcaption>" + caption + "</figcaption></figure>\n";
}

// One paragraph: the model's shape, origin, size and the weight processing the analyses applied.
std::string overview(const ReportContext& ctx) {
    std::string out = "<p id=\"overview\">";
    if (ctx.model) {
        const auto& c = ctx.model->cfg;
        out += std::to_string(c.n_layers) + " layers × " + std::to_string(c.n_heads) + " heads, d_model " +
               std::to_string(c.d_model) + ", d_head " + std::to_string(c.d_head) + ", d_vocab " +
               std::to_string(c.d_vocab) + ", n_ctx " + std::to_string(c.n_ctx) + "; origin <b>" +
               escape_html(to_string(c.origin)) + "</b>; " + std::to_string(ctx.model->parameter_count()) +
               " parameters";
        if (!ctx.model->program_source.empty()) out += "; compiled from a <a href=\"#program-source\">RASP program</a>";
    } else {
        out +=
            std::to_string(ctx.n_layers) + " layers × " + std::to_string(ctx.n_heads) + " heads (model file not read)";
    }
    const std::string processing = ctx.results.root_string(schema::root::attr::weight_processing);
    if (!processing.empty()) out += "; weight processing: <code>" + escape_html(processing) + "</code>";
    const std::string passes = ctx.results.root_string(schema::root::attr::passes);
    if (!passes.empty()) out += "; passes: <code>" + escape_html(passes) + "</code>";
    out += ".</p>\n";
    for (const auto& n : ctx.notes) out += note(n);
    return out;
}

std::string model_section(const ReportContext& ctx) {
    std::string out = "<h2 id=\"model\">Model</h2>\n";
    const std::string processing = ctx.results.root_string(schema::root::attr::weight_processing);
    if (!ctx.model) {
        out +=
            note(ctx.model_path.empty() ? "No model file named in the results."
                                        : "Model file '" + ctx.model_path + "' not read: config and tokens left out.");
        if (!processing.empty())
            out += "<p>Weight processing applied (results file): <code>" + escape_html(processing) + "</code></p>\n";
        return out;
    }
    const Model& m = *ctx.model;
    const auto& c = m.cfg;
    std::vector<std::vector<Cell>> rows;
    auto row = [&](const std::string& k, const std::string& v) {
        rows.push_back({{escape_html(k), ""}, {escape_html(v), ""}});
    };
    row("file", ctx.model_path);
    row("origin", to_string(c.origin));
    row("n_layers", std::to_string(c.n_layers));
    row("n_heads", std::to_string(c.n_heads));
    row("d_model", std::to_string(c.d_model));
    row("d_head", std::to_string(c.d_head));
    row("d_vocab", std::to_string(c.d_vocab));
    row("d_vocab_out", std::to_string(c.d_vocab_out));
    row("n_ctx", std::to_string(c.n_ctx));
    row("d_mlp", std::to_string(c.d_mlp) + (c.has_mlp() ? " (" + to_string(c.act_fn) + ")" : " (attention-only)"));
    row("positional_embedding_type", to_string(c.positional_embedding_type));
    row("normalization_type", to_string(c.normalization_type));
    row("attn_scale", format_number(c.effective_attn_scale()));
    row("causal", c.causal ? "yes" : "no");
    row("bos_token",
        c.bos_token >= 0 ? std::to_string(c.bos_token) + " (" + display_token(ctx.token(c.bos_token)) + ")" : "none");
    row("parameters", std::to_string(m.parameter_count()));
    std::string stored;
    for (const auto& p : m.weight_processing) stored += (stored.empty() ? "" : ", ") + p;
    row("weight processing in the model file", stored.empty() ? "none" : stored);
    row("weight processing applied by the analyses", processing.empty() ? "(not recorded)" : processing);
    if (!m.output_sop.empty()) row("output s-op", m.output_sop);
    out += html_table({"field", "value"}, rows, "model-config");
    if (!m.residual_labels.empty()) {
        out += "<h3>Residual stream labels (" + std::to_string(m.residual_labels.size()) +
               ")</h3>\n<p id=\"residual-labels\">";
        for (size_t i = 0; i < m.residual_labels.size() && i < kMaxResidualLabels; ++i)
            out += token_html(m.residual_labels[i]) + " ";
        if (m.residual_labels.size() > kMaxResidualLabels)
            out += "… (" + std::to_string(m.residual_labels.size() - kMaxResidualLabels) + " more)";
        out += "</p>\n";
    }
    if (!m.program_source.empty())
        out += "<h3>Program source</h3>\n<pre id=\"program-source\">" + escape_html(m.program_source) + "</pre>\n";
    out += program_graph_html(m);  // the computation graph of the program (reports/program_graph.hpp)
    return out;
}

std::string results_section(const ReportContext& ctx) {
    std::string out = "<h2 id=\"results\">Results file</h2>\n";
    std::vector<std::vector<Cell>> rows;
    rows.push_back({{"file", ""}, {escape_html(ctx.results.path()), ""}});
    for (const auto& [name, value] : ctx.results.root_attributes())
        rows.push_back({{escape_html(name), ""}, {"<code>" + escape_html(value) + "</code>", ""}});
    std::string groups;
    for (const auto& g : ctx.results.groups()) groups += (groups.empty() ? "" : ", ") + g;
    rows.push_back({{"groups present", ""}, {escape_html(groups.empty() ? "(none)" : groups), ""}});
    return out + html_table({"attribute", "value"}, rows, "results-attributes");
}

std::string classes_section(const ReportContext& ctx) {
    std::string out =
        "<h2 id=\"classified\">Classified heads</h2>\n<table id=\"classes\">\n<thead><tr><th>class</th>"
        "<th>heads</th><th>rule</th></tr></thead>\n<tbody>\n";
    for (const auto& c : ctx.classes) {
        out += "<tr><th>" + escape_html(c.label) + "</th>";
        if (!c.present) {
            out += "<td colspan=\"2\" class=\"note\">" +
                   escape_html("not in the results file (" + c.dataset + " absent: induction pass not run)") +
                   "</td></tr>\n";
            continue;
        }
        out += "<td id=\"class-" + c.key + "\">";
        if (c.heads.empty()) out += "none";
        for (size_t i = 0; i < c.heads.size(); ++i)
            out += (i ? ", " : "") + head_link(c.heads[i].first, c.heads[i].second);
        out += "</td><td>" + (c.rule.empty() ? std::string() : "<code>" + escape_html(c.rule) + "</code>") +
               "</td></tr>\n";
    }
    return out + "</tbody>\n</table>\n";
}

// The direct path, each head's and the strongest virtual heads' token-space norms as one chart.
std::string path_norm_figure(const ReportContext& ctx) {
    const auto direct = ctx.results.scalar(schema::path::group, schema::path::attr::direct_norm);
    const auto head_norm = ctx.results.head_grid(schema::path::head_norm);
    const auto virtual_norm = ctx.results.pair_grid(schema::path::virtual_norm);
    if (!direct && !head_norm && !virtual_norm)
        return note("No path-term norms in the results file (path expansion not run).");
    BarChart chart;
    chart.id = "path-norms";
    chart.value_label = "Frobenius norm of the term's token-space circuit";
    if (direct) chart.bars.push_back({"direct W_E W_U", *direct, "direct path W_E W_U: " + format_number(*direct), ""});
    if (head_norm) {
        std::vector<std::pair<int, int>> heads;
        for (int l = 0; l < ctx.n_layers; ++l)
            for (int h = 0; h < ctx.n_heads; ++h) heads.emplace_back(l, h);
        if (static_cast<int>(heads.size()) > kMaxHeadBars) {
            std::stable_sort(heads.begin(), heads.end(), [&](auto a, auto b) {
                return (*head_norm)(a.first, a.second) > (*head_norm)(b.first, b.second);
            });
            heads.resize(kMaxHeadBars);
        }
        for (const auto& [l, h] : heads)
            chart.bars.push_back({head_name(l, h), (*head_norm)(l, h),
                                  head_name(l, h) + " W_E OV W_U: " + format_number((*head_norm)(l, h)),
                                  "heads/" + head_page_name(l, h)});
    }
    if (virtual_norm) {
        struct V {
            int l1, h1, l2, h2;
            double v;
        };
        std::vector<V> pairs;
        for (int l1 = 0; l1 < ctx.n_layers; ++l1)
            for (int h1 = 0; h1 < ctx.n_heads; ++h1)
                for (int l2 = l1 + 1; l2 < ctx.n_layers; ++l2)
                    for (int h2 = 0; h2 < ctx.n_heads; ++h2) {
                        const double v = virtual_norm->at({l1, h1, l2, h2});
                        if (std::isfinite(v)) pairs.push_back({l1, h1, l2, h2, v});
                    }
        std::stable_sort(pairs.begin(), pairs.end(), [](const V& a, const V& b) { return a.v > b.v; });
        if (pairs.size() > kMaxVirtualBars) pairs.resize(kMaxVirtualBars);
        for (const auto& p : pairs) {
            const std::string name = head_name(p.l1, p.h1) + "→" + head_name(p.l2, p.h2);
            chart.bars.push_back({name, p.v, "virtual head " + name + " W_E OV OV W_U: " + format_number(p.v),
                                  "heads/" + head_page_name(p.l2, p.h2)});
        }
    }
    return "<figure>" + svg_bar_chart(chart) + "<figcaption>Path-term norms: the direct path, each head" +
           std::string(head_norm && ctx.n_layers * ctx.n_heads > kMaxHeadBars
                           ? " (the largest " + std::to_string(kMaxHeadBars) + ")"
                           : "") +
           (virtual_norm ? ", and the strongest virtual heads (order 2)" : "") + ".</figcaption></figure>\n";
}

// Loss by path order: bar k keeps the terms up to order k; the last bar is the real model.
std::string order_loss_chart(const std::vector<double>& values, const std::optional<double>& real_value,
                             const std::string& id) {
    BarChart chart;
    chart.id = id;
    chart.value_label = "mean next-token loss (nats)";
    for (size_t k = 0; k < values.size(); ++k) {
        std::string title = "L" + std::to_string(k) + " = " + format_number(values[k]);
        if (k > 0)
            title += "; effect of order-" + std::to_string(k) + " terms L" + std::to_string(k - 1) + " − L" +
                     std::to_string(k) + " = " + format_number(values[k - 1] - values[k]);
        chart.bars.push_back(
            {k == 0 ? "order 0 (direct only)" : "orders ≤ " + std::to_string(k), values[k], title, ""});
    }
    if (real_value) chart.bars.push_back({"real model", *real_value, "real model: " + format_number(*real_value), ""});
    return svg_bar_chart(chart);
}

std::string path_section(const ReportContext& ctx) {
    std::string out = "<h2 id=\"path\">Path expansion</h2>\n" + path_norm_figure(ctx);
    const auto loss = ctx.results.vector(schema::path::order_loss);
    if (!loss) {
        out += note("Loss by order not measured (no /path/order_loss).");
        return out;
    }
    const auto real = ctx.results.scalar(schema::path::group, schema::path::attr::real_loss);
    out += "<figure>" + order_loss_chart(*loss, real, "order-loss") +
           "<figcaption>Loss when the logits keep path terms up to each order (<code>/path/order_loss</code>); "
           "run k feeds each head's value input from run k−1.</figcaption></figure>\n";
    if (const auto rep = ctx.results.vector(schema::path::order_loss_repeated))
        out += "<figure>" +
               order_loss_chart(*rep, ctx.results.scalar(schema::path::group, schema::path::attr::real_loss_repeated),
                                "order-loss-repeated") +
               "<figcaption>The same on the probe positions whose next token is a repeat "
               "(<code>/path/order_loss_repeated</code>).</figcaption></figure>\n";
    return out;
}

std::string bigram_section(const ReportContext& ctx) {
    const auto t = ctx.results.bigram();
    if (!t) return "";
    return "<h3 id=\"bigram\">Direct path (bigram): top next tokens</h3>\n<p>Rows of W_E W_U "
           "(<code>/bigram/top_tokens</code>, <code>top_logits</code>): the output tokens the direct path favours "
           "after each input token.</p>\n" +
           top_table_html(ctx, *t, true, "bigram-top", "input token");
}

std::string probe_section(const ReportContext& ctx) {
    if (!ctx.probe) return "";
    std::string out =
        "<h2 id=\"probe\">Probe sequence</h2>\n<p>Each head page shows the attention pattern on this "
        "sequence (computed here by the model's forward pass; a random sequence shown twice):</p>\n<p>";
    for (int t : ctx.probe->tokens) out += token_html(ctx.token(t)) + " ";
    return out + "</p>\n";
}

std::string training_html(const ReportContext& ctx) {
    const auto& t = ctx.training;
    if (t.empty()) return "";
    std::string out = "<h2 id=\"training\">Training</h2>\n";
    if (t.phase_lo <= t.phase_hi)
        out += "<p id=\"phase-change\">Phase change (shaded in every chart): steps <b>" + escape_html(format_number(t.phase_lo)) +
               "–" + escape_html(format_number(t.phase_hi)) + "</b>, where " + escape_html(t.phase_rule) +
               ". The x axes are the training step on a log scale (log(1 + step)).</p>\n";
    out += "<div class=\"figs\">\n";
    for (const auto& c : t.curated)
        out += "<figure>" + svg_line_chart(c.chart) + "<figcaption>" + escape_html(c.caption) + "</figcaption></figure>\n";
    out += "</div>\n";
    if (!t.checkpoints.empty()) {
        out += "<p id=\"checkpoints\">Checkpoints in the model file (<code>/training/checkpoints/{i}</code>, full models; "
               "not plotted): ";
        for (size_t i = 0; i < t.checkpoints.size(); ++i)
            out += (i ? ", " : "") + std::to_string(t.checkpoints[i].first) + " at step " +
                   escape_html(format_number(t.checkpoints[i].second));
        out += ".</p>\n";
    }
    if (!t.other.empty()) {
        out += "<details id=\"training-other\"><summary>Other logged quantities (" + std::to_string(t.other.size()) +
               ")</summary>\n<div class=\"figs\">\n";
        for (const auto& c : t.other)
            out += "<figure>" + svg_line_chart(c.chart) + "<figcaption><code>" + escape_html(c.dataset) +
                   "</code></figcaption></figure>\n";
        out += "</div></details>\n";
    }
    return out;
}

std::string all_heads(const ReportContext& ctx) {
    std::string out = "<h2 id=\"heads\">Head pages</h2>\n";
    std::vector<std::string> header = {"layer", "all heads"};
    for (int h = 0; h < ctx.n_heads; ++h) header.push_back("H" + std::to_string(h));
    std::vector<std::vector<Cell>> rows;
    for (int l = 0; l < ctx.n_layers; ++l) {
        std::vector<Cell> row = {{"L" + std::to_string(l), ""},
                                 {link("layers/" + layer_page_name(l), "attention viewer"), ""}};
        for (int h = 0; h < ctx.n_heads; ++h) {
            std::string badges;
            for (const auto& c : ctx.classes)
                if (c.contains(l, h)) badges += " <span class=\"badge\">" + escape_html(c.label) + "</span>";
            row.push_back({head_link(l, h) + badges, ""});
        }
        rows.push_back(row);
    }
    return out + html_table(header, rows, "head-links");
}

}  // namespace

std::string render_index(const ReportContext& ctx) {
    const std::string model_name =
        ctx.model_path.empty() ? ctx.results.path() : std::filesystem::path(ctx.model_path).filename().string();
    std::string body = "<h1>circuits report: " + escape_html(model_name) + "</h1>\n";
    body +=
        "<nav><a href=\"#classified\">classified heads</a><a href=\"#scores\">scores</a>"
        "<a href=\"#composition\">composition</a><a href=\"#path\">path expansion</a><a href=\"#model\">model</a>"
        "<a href=\"#results\">results file</a>" +
        std::string(ctx.training.empty() ? "" : "<a href=\"#training\">training</a>") +
        "<a href=\"#heads\">head pages and viewers</a><a href=\"summary.md\">summary.md</a></nav>\n";
    body += overview(ctx);
    body += classes_section(ctx);
    body += "<h2 id=\"scores\">Per-head scores</h2>\n";
    if (ctx.scores.empty())
        body += note("No per-head scores in the results file (induction, eigen, circuits passes not run).");
    for (const char* key : {"prev_token", "induction", "ov_copying"})
        if (!ctx.score(key, 0, 0) && ctx.n_layers > 0) {
            for (const auto& info : known_scores())
                if (info.key == key)
                    body += note(info.label + " scores not in the results file (" + info.dataset + " absent).");
        }
    body += "<div class=\"figs\">\n";
    for (const auto& s : ctx.scores) body += score_grid(ctx, s);
    body += "</div>\n";

    body += "<h2 id=\"composition\">Composition</h2>\n";
    if (ctx.compositions.empty())
        body += note("No composition scores in the results file (composition pass not run).");
    else if (ctx.n_layers < 2)
        body += note("One layer: no pair of heads can compose.");
    else {
        body += composition_graph_html(ctx);
        body += "<div class=\"figs\">\n";
        for (const auto& c : ctx.compositions) body += composition_heatmap(ctx, c);
        body += "</div>\n";
    }
    body += path_section(ctx);
    body += bigram_section(ctx);
    body += model_section(ctx);
    body += results_section(ctx);
    body += probe_section(ctx);
    body += training_html(ctx);
    body += all_heads(ctx);
    return html_page("circuits report: " + model_name, body, "report.js");
}

}  // namespace circuits::reports
