// heads/L{l}H{h}.html: one head's scores, token tables, skip-trigrams, eigenvalues, patterns and partners.
#include "reports/html.hpp"
#include "lib/results_schema.hpp"
#include "reports/attention_viewer.hpp"
#include "reports/report_context.hpp"

#include <algorithm>
#include <cmath>
#include <map>

namespace circuits::reports {

namespace {

constexpr int kSkipTrigramColumns = 3;  // destinations and outputs shown per source
constexpr int kMaxSkipTrigramRows = 15;
constexpr Eigen::Index kMaxPositions = 32;  // positional QK heatmap: first positions only

std::string head_link(int l, int h) {
    return "<a href=\"" + head_page_name(l, h) + "\">" + head_name(l, h) + "</a>";
}

// One row "[source] … [destinations] → [outputs]"; dests are (value, query token), best first.
std::string skip_trigram_row(const ReportContext& ctx, std::int64_t source,
                             const std::vector<std::pair<double, std::int64_t>>& dests, const std::optional<TopTable>& ov) {
    std::string out = "<tr id=\"skip-trigram-" + std::to_string(source) + "\"><th>" + token_html(ctx.token(source)) +
                      "</th><td>…</td><td>";
    for (size_t d = 0; d < dests.size() && d < kSkipTrigramColumns; ++d)
        out += token_html(ctx.token(dests[d].second)) + value_span(dests[d].first) + " ";
    out += "</td><td>→</td><td>";
    if (ov && source < ov->rows) {
        for (int j = 0; j < ov->k && j < kSkipTrigramColumns; ++j) {
            const auto o = ov->token(static_cast<int>(source), j);
            if (o >= 0) out += token_html(ctx.token_out(o)) + value_span(ov->value(static_cast<int>(source), j)) + " ";
        }
    } else {
        out += "—";
    }
    return out + "</td></tr>\n";
}

const char* const kSkipTrigramHeader =
    "<table id=\"skip-trigrams\">\n<thead><tr><th>source (key)</th><th>…</th><th>destinations (query; attention "
    "logit)</th><th>→</th><th>outputs (logit effect)</th></tr></thead>\n<tbody>\n";

// Skip-trigrams "[source] … [destination] → [output]" from the results' destination table
// (/circuits/skip_trigram_dest_*: the top queries of each QK column): the sources with the largest
// top destination logit, each with its top OV outputs.
std::string skip_trigrams_from_file(const ReportContext& ctx, const TopTable& dest, const std::optional<TopTable>& ov) {
    const int n = std::min({kMaxSkipTrigramRows, ctx.options.max_token_rows, dest.rows});
    const auto rows = rows_to_show(dest, n);
    std::string out = kSkipTrigramHeader;
    for (int s : rows) {
        std::vector<std::pair<double, std::int64_t>> dests;
        for (int j = 0; j < dest.k; ++j)
            if (dest.token(s, j) >= 0) dests.emplace_back(dest.value(s, j), dest.token(s, j));
        out += skip_trigram_row(ctx, s, dests, ov);
    }
    return out + "</tbody>\n</table>\n";
}

// Without that table: destinations are the queries whose top-k keys contain the source (ranked by
// that attention logit), an approximation limited to the QK rows' top-k.
std::string skip_trigrams(const ReportContext& ctx, const TopTable& qk, const std::optional<TopTable>& ov) {
    // Pass 1: each key token's largest attention logit over the queries listing it; O(rows k).
    std::int64_t max_token = -1;
    for (auto t : qk.tokens.data) max_token = std::max(max_token, t);
    std::vector<double> best(static_cast<size_t>(max_token + 1), -INFINITY);
    for (int q = 0; q < qk.rows; ++q)
        for (int j = 0; j < qk.k; ++j) {
            const auto s = qk.token(q, j);
            const double v = qk.value(q, j);
            if (s >= 0 && std::isfinite(v)) best[static_cast<size_t>(s)] = std::max(best[static_cast<size_t>(s)], v);
        }
    std::vector<std::int64_t> sources;
    for (size_t s = 0; s < best.size(); ++s)
        if (std::isfinite(best[s])) sources.push_back(static_cast<std::int64_t>(s));
    std::stable_sort(sources.begin(), sources.end(), [&](auto a, auto b) { return best[size_t(a)] > best[size_t(b)]; });
    const size_t n = std::min<size_t>(sources.size(), static_cast<size_t>(std::min(kMaxSkipTrigramRows, ctx.options.max_token_rows)));
    sources.resize(n);
    // Pass 2: the destinations of the chosen sources only.
    struct Dest {
        double value;
        int query;
    };
    std::map<std::int64_t, std::vector<Dest>> by_source;
    for (auto s : sources) by_source[s];
    for (int q = 0; q < qk.rows; ++q)
        for (int j = 0; j < qk.k; ++j) {
            const auto it = by_source.find(qk.token(q, j));
            const double v = qk.value(q, j);
            if (it != by_source.end() && std::isfinite(v)) it->second.push_back({v, q});
        }
    for (auto& [s, dests] : by_source)
        std::stable_sort(dests.begin(), dests.end(), [](const Dest& a, const Dest& b) { return a.value > b.value; });
    if (n == 0) return note("No finite entries in the QK table.");
    std::string out = kSkipTrigramHeader;
    for (size_t i = 0; i < n; ++i) {
        const auto s = sources[i];
        std::vector<std::pair<double, std::int64_t>> dests;
        for (const auto& d : by_source[s]) dests.emplace_back(d.value, d.query);
        out += skip_trigram_row(ctx, s, dests, ov);
    }
    return out + "</tbody>\n</table>\n";
}

std::string scores_table(const ReportContext& ctx, int layer, int head) {
    if (ctx.scores.empty()) return note("No per-head scores in the results file.");
    std::string out = "<table id=\"scores\">\n<thead><tr><th>score</th><th>value</th><th>dataset</th><th>meaning</th></tr>"
                      "</thead>\n<tbody>\n";
    for (const auto& s : ctx.scores)
        out += "<tr id=\"score-" + s.info.key + "\"><th>" + escape_html(s.info.label) + "</th><td class=\"num\">" +
               escape_html(format_number(s.values(layer, head))) + "</td><td><code>" + escape_html(s.info.dataset) +
               "</code></td><td>" + escape_html(s.info.description) + "</td></tr>\n";
    return out + "</tbody>\n</table>\n";
}

std::string partners(const ReportContext& ctx, int layer, int head) {
    if (ctx.compositions.empty()) return note("No composition scores in the results file.");
    struct Row {
        std::string kind, direction;
        int l, h;
        double raw, dev, z, rank;
    };
    std::vector<Row> rows;
    for (const auto& c : ctx.compositions) {
        const double mean = c.baseline_mean.value_or(0.0);
        for (int dir = 0; dir < 2; ++dir) {
            std::vector<Row> found;
            for (int l = 0; l < ctx.n_layers; ++l)
                for (int h = 0; h < ctx.n_heads; ++h) {
                    const bool in = dir == 0;
                    if (in ? l >= layer : l <= layer) continue;
                    const int l1 = in ? l : layer, h1 = in ? h : head, l2 = in ? layer : l, h2 = in ? head : h;
                    const double raw = c.raw.at({l1, h1, l2, h2});
                    if (!std::isfinite(raw)) continue;
                    const double z = c.z ? c.z->at({l1, h1, l2, h2}) : std::nan("");
                    const double rank = c.z && std::isfinite(z) ? z : raw - mean;
                    found.push_back({c.kind, in ? "in (reads from)" : "out (read by)", l, h, raw, raw - mean, z, rank});
                }
            std::stable_sort(found.begin(), found.end(), [](const Row& a, const Row& b) { return a.rank > b.rank; });
            if (found.size() > static_cast<size_t>(ctx.options.partners)) found.resize(static_cast<size_t>(ctx.options.partners));
            rows.insert(rows.end(), found.begin(), found.end());
        }
    }
    if (rows.empty()) return "<p>No earlier or later heads: no composition partners.</p>\n";
    std::vector<std::vector<Cell>> cells;
    for (const auto& r : rows)
        cells.push_back({{escape_html(r.kind == "q" ? "Q" : r.kind == "k" ? "K" : "V"), ""},
                         {escape_html(r.direction), ""},
                         {head_link(r.l, r.h), ""},
                         {escape_html(format_number(r.raw)), "num"},
                         {escape_html(format_number(r.dev)), "num"},
                         {escape_html(std::isfinite(r.z) ? format_number(r.z) : "—"), "num"}});
    return "<p>Strongest partners per kind and direction, ranked by z-score (or raw − baseline when the file has no "
           "z-scores). In: an earlier head whose output this head reads; out: a later head that reads this head.</p>\n" +
           html_table({"kind", "direction", "partner", "raw", "raw − baseline", "z"}, cells, "partners");
}

std::string pattern_heatmap(const ReportContext& ctx, int layer, int head) {
    if (!ctx.probe) return note("No probe attention: the model file was not read.");
    const auto& tokens = ctx.probe->tokens;
    const Matrix& p = ctx.probe->patterns[static_cast<size_t>(layer)][static_cast<size_t>(head)];  // [T, T]
    Heatmap hm;
    hm.id = "probe-attention";
    hm.rows = hm.cols = static_cast<int>(tokens.size());
    hm.row_axis = "query";
    hm.col_axis = "key";
    for (int t : tokens) {
        hm.row_labels.push_back(display_token(ctx.token(t)));
        hm.col_labels.push_back(display_token(ctx.token(t)));
    }
    for (int i = 0; i < hm.rows; ++i)
        for (int j = 0; j < hm.cols; ++j) {
            hm.values.push_back(p(i, j));
            hm.titles.push_back("query " + std::to_string(i) + " " + display_token(ctx.token(tokens[static_cast<size_t>(i)])) +
                                " → key " + std::to_string(j) + " " + display_token(ctx.token(tokens[static_cast<size_t>(j)])) +
                                ": " + format_number(p(i, j)));
        }
    hm.scale.legend = "attention";
    hm.show_values = false;
    return "<figure>" + svg_heatmap(hm) +
           "<figcaption>Attention on the probe sequence (rows: query position, columns: key position), from the "
           "model's forward pass.</figcaption></figure>\n";
}

std::string eigenvalue_plots(const ReportContext& ctx, int layer, int head) {
    std::string out;
    for (const std::string circuit : {"ov", "qk"}) {
        const auto eig = ctx.results.eigenvalues(circuit, layer, head);
        if (!eig) {
            if (circuit == "ov") out += note("No OV eigenvalues in the results file (/eigen/ov_eigenvalues_re absent).");
            continue;
        }
        EigenvaluePlot plot;
        plot.id = circuit + "-eigenvalues";
        plot.values = *eig;
        if (const auto copying = ctx.score(circuit + "_copying", layer, head))
            plot.caption_line = "copying score " + format_number(*copying);
        out += "<figure>" + svg_eigenvalue_plot(plot) + "<figcaption>" +
               (circuit == "ov" ? "OV circuit W_E OV W_U: its non-zero eigenvalues (from the d_head × d_head core), "
                                  "with the unit circle. A copying head's eigenvalues are mostly positive reals."
                                : "Token QK circuit (W_E W_Q)(W_E W_K)^T: positive eigenvalues mean the head attends "
                                  "to the same token.") +
               "</figcaption></figure>\n";
    }
    return out.empty() ? out : "<div class=\"figs\">\n" + out + "</div>\n";
}

std::string positional_heatmap(const ReportContext& ctx, int layer, int head) {
    const auto m = ctx.results.head_square(schema::circuits::qk_pos, layer, head);
    if (!m) return note("No positional QK circuit in the results file (/circuits/qk_pos absent).");
    if (m->size() == 0 || !m->array().isFinite().any())
        return note("Positional QK circuit undefined (" +
                    ctx.results.attr_text(schema::circuits::group, schema::circuits::attr::qk_pos_terms)
                        .value_or(std::string("no finite entries in ") + schema::circuits::qk_pos) +
                    ").");
    Heatmap hm;
    hm.id = "qk-pos";
    hm.rows = static_cast<int>(std::min<Eigen::Index>(m->rows(), kMaxPositions));
    hm.cols = static_cast<int>(std::min<Eigen::Index>(m->cols(), kMaxPositions));
    hm.row_axis = "query position";
    hm.col_axis = "key position";
    double max_abs = 0.0;
    for (int i = 0; i < hm.rows; ++i) hm.row_labels.push_back(std::to_string(i));
    for (int j = 0; j < hm.cols; ++j) hm.col_labels.push_back(std::to_string(j));
    for (int i = 0; i < hm.rows; ++i)
        for (int j = 0; j < hm.cols; ++j) {
            const double v = (*m)(i, j);
            hm.values.push_back(v);
            if (std::isfinite(v)) max_abs = std::max(max_abs, std::abs(v));
            hm.titles.push_back("query " + std::to_string(i) + ", key " + std::to_string(j) + ": " + format_number(v));
        }
    hm.scale.diverging = true;
    hm.scale.half_width = max_abs > 0 ? max_abs : 1.0;
    hm.scale.legend = "attention logit";
    return "<figure>" + svg_heatmap(hm) +
           "<figcaption>Positional QK circuit (W_pos W_Q)(W_pos W_K)^T / attn_scale on the first " +
           std::to_string(hm.rows) + " positions" +
           (m->rows() > kMaxPositions ? " (of " + std::to_string(m->rows()) + " in the file)" : std::string()) +
           " (<code>/circuits/qk_pos</code>).</figcaption></figure>\n";
}

std::string viewer_section(const ReportContext& ctx, int layer, int head) {
    std::string out = "<h2 id=\"viewer-section\">Attention viewer</h2>\n";
    const std::string viewer = attention_viewer_html(ctx, {{layer, head}}, "viewer");
    if (viewer.empty()) return out + note("No attention viewer: the model file was not read.");
    return out + "<p>Hover or focus a token (Tab, then the arrow keys) to shade the tokens it attends to; the "
                 "inputs are the probe and any <code>--tokens</code> sequences. All heads of this layer: <a href=\"../layers/" +
           layer_page_name(layer) + "\">layer " + std::to_string(layer) + "</a>.</p>\n" + viewer;
}

}  // namespace

std::string render_head_page(const ReportContext& ctx, int layer, int head) {
    const std::string name = head_name(layer, head);
    std::string body = "<nav><a href=\"../index.html\">index</a>";
    const int index = layer * ctx.n_heads + head, total = ctx.n_layers * ctx.n_heads;
    if (index > 0) body += "<a href=\"" + head_page_name((index - 1) / ctx.n_heads, (index - 1) % ctx.n_heads) + "\">← previous head</a>";
    if (index + 1 < total) body += "<a href=\"" + head_page_name((index + 1) / ctx.n_heads, (index + 1) % ctx.n_heads) + "\">next head →</a>";
    body += "</nav>\n<h1>Layer " + std::to_string(layer) + ", head " + std::to_string(head) + " (" + name + ")";
    for (const auto& c : ctx.classes)
        if (c.contains(layer, head)) body += " <span class=\"badge\">" + escape_html(c.label) + "</span>";
    body += "</h1>\n";

    body += "<h2 id=\"scores-section\">Scores</h2>\n" + scores_table(ctx, layer, head);

    const auto ov =
        ctx.results.top_table(schema::circuits::ov_top_tokens, schema::circuits::ov_top_values, layer, head);
    const auto qk =
        ctx.results.top_table(schema::circuits::qk_top_tokens, schema::circuits::qk_top_values, layer, head);
    body += "<h2 id=\"ov\">OV circuit: top outputs per source token</h2>\n";
    body += ov ? "<p>Rows of W_E OV W_U: the output tokens whose logits rise most when this head attends to the "
                 "source token.</p>\n" + top_table_html(ctx, *ov, true, "ov-top", "source token", name + "-ov")
               : note("No OV top-token table in the results file (/circuits/ov_top_tokens absent).");
    body += "<h2 id=\"qk\">QK circuit: top keys per query token</h2>\n";
    body += qk ? "<p>Rows of (W_E W_Q)(W_E W_K)^T / attn_scale: the key tokens a query token attends to most.</p>\n" +
                     top_table_html(ctx, *qk, false, "qk-top", "query token", name + "-qk")
               : note("No QK top-token table in the results file (/circuits/qk_top_tokens absent).");
    body += "<h2 id=\"skip-trigram-section\">Skip-trigrams</h2>\n";
    const auto dest = ctx.results.top_table(schema::circuits::skip_trigram_dest_tokens,
                                            schema::circuits::skip_trigram_dest_values, layer, head);
    if (dest)
        body += "<p>[source] … [destination] → [output]: for a source (key) token, the query tokens that attend to it "
                "most (<code>/circuits/skip_trigram_dest_tokens</code>) and its top OV outputs.</p>\n" +
                skip_trigrams_from_file(ctx, *dest, ov);
    else if (qk)
        body += "<p>[source] … [destination] → [output]: destinations are the query tokens whose top keys contain the "
                "source (the results file has no <code>/circuits/skip_trigram_dest_tokens</code>); outputs are the "
                "source's top OV outputs.</p>\n" + skip_trigrams(ctx, *qk, ov);
    else
        body += note("No skip-trigrams without the QK tables.");

    body += "<h2 id=\"eigenvalues\">Eigenvalues</h2>\n" + eigenvalue_plots(ctx, layer, head);
    body += "<h2 id=\"positional\">Positional QK circuit</h2>\n" + positional_heatmap(ctx, layer, head);
    body += "<h2 id=\"attention\">Attention on the probe</h2>\n" + pattern_heatmap(ctx, layer, head);
    body += viewer_section(ctx, layer, head);
    body += "<h2 id=\"composition\">Composition partners</h2>\n" + partners(ctx, layer, head);
    return html_page(name + " — circuits report", body, "../report.js");
}

}  // namespace circuits::reports
