// The comparison page of `circuits compare`, rendered from compare.h5 and the two model files.
#include "reports/compare_page.hpp"

#include "lib/error.hpp"
#include "lib/forward.hpp"
#include "lib/hdf5.hpp"
#include "lib/model_io.hpp"
#include "lib/results_schema.hpp"
#include "reports/html.hpp"
#include "reports/svg.hpp"

#include <cmath>
#include <fstream>

namespace circuits::reports {

namespace {

std::string head_label(const std::string& model, long layer, long head) {
    return model + " L" + std::to_string(layer) + "H" + std::to_string(head);
}

// The attention pattern of one head on `input` (BOS prepended when the model has one).
Heatmap attention_heatmap(const Model& m, const std::vector<std::string>& input, int layer, int head,
                          const std::string& id) {
    std::vector<int> tokens;
    std::vector<std::string> labels;
    if (m.cfg.bos_token >= 0) {
        tokens.push_back(m.cfg.bos_token);
        labels.push_back(m.vocab[static_cast<size_t>(m.cfg.bos_token)]);
    }
    for (const auto& t : input) {
        tokens.push_back(m.token_index(t));
        labels.push_back(t);
    }
    const auto r = forward(m, tokens);
    const Matrix& p = r.patterns[static_cast<size_t>(layer)][static_cast<size_t>(head)];  // [T, T]
    Heatmap h;
    h.id = id;
    h.rows = static_cast<int>(p.rows());
    h.cols = static_cast<int>(p.cols());
    for (Eigen::Index i = 0; i < p.rows(); ++i)
        for (Eigen::Index j = 0; j < p.cols(); ++j) h.values.push_back(p(i, j));
    h.row_labels = labels;
    h.col_labels = labels;
    h.row_axis = "query";
    h.col_axis = "key";
    h.scale.lo = 0.0;
    h.scale.hi = 1.0;
    h.scale.legend = "attention";
    return h;
}

// For each input token (by string), the output token its OV circuit raises most, and the key token
// its QK circuit prefers most.
std::vector<std::pair<std::string, std::string>> top_tokens(const Model& m, int layer, int head) {
    const auto& a = m.blocks[static_cast<size_t>(layer)].attn;
    const auto uh = static_cast<size_t>(head);
    const Matrix ov = (m.W_E * a.W_V[uh]) * (a.W_O[uh] * m.W_U);           // [d_vocab, d_vocab_out]
    const Matrix qk = (m.W_E * a.W_Q[uh]) * (m.W_E * a.W_K[uh]).transpose();  // [d_vocab, d_vocab]
    std::vector<std::pair<std::string, std::string>> out;
    for (Eigen::Index t = 0; t < ov.rows(); ++t) {
        Eigen::Index best_o = 0, best_k = 0;
        ov.row(t).maxCoeff(&best_o);
        qk.row(t).maxCoeff(&best_k);
        out.emplace_back(m.vocab_out[static_cast<size_t>(best_o)], m.vocab[static_cast<size_t>(best_k)]);
    }
    return out;
}

std::string edge_rows(const H5Reader& r, const std::string& name, const std::string& title) {
    std::string html = "<h3>" + escape_html(title) + "</h3>";
    const auto edges = r.read_int(name);
    if (edges.dims.empty() || edges.dims[0] == 0) return html + note("none");
    static const char* kinds[] = {"Q", "K", "V"};
    html += "<ul>";
    for (std::int64_t i = 0; i < static_cast<std::int64_t>(edges.dims[0]); ++i) {
        auto e = [&](std::int64_t column) { return edges.at({i, column}); };
        html += "<li>" + std::string(kinds[std::clamp<std::int64_t>(e(0), 0, 2)]) + "-composition L" +
                std::to_string(e(1)) + "H" + std::to_string(e(2)) + " &#8594; L" + std::to_string(e(3)) + "H" +
                std::to_string(e(4)) + "</li>";
    }
    return html + "</ul>";
}

// The probe's agreement and each model's accuracy against the program.
std::string behaviour_section(const H5Reader& r) {
    namespace c = schema::compare;
    const double agreement = r.attr_double(c::group, c::attr::agreement);
    const double acc_a = r.attr_double(c::group, c::attr::accuracy_a);
    const double acc_b = r.attr_double(c::group, c::attr::accuracy_b);
    return "<h2>Behaviour</h2>" +
           html_table({"probe sequences", "positions", "agreement of A and B", "accuracy of A", "accuracy of B"},
                      {{{std::to_string(r.attr_int(c::group, c::attr::probe_sequences)), ""},
                        {std::to_string(r.attr_int(c::group, c::attr::probe_positions)), ""},
                        {format_number(agreement), ""},
                        {std::isnan(acc_a) ? "no program" : format_number(acc_a), ""},
                        {std::isnan(acc_b) ? "no program" : format_number(acc_b), ""}}},
                      "behaviour");
}

// The similarity heatmap [La, Ha, Lb, Hb]: rows are A's heads, columns B's.
std::string similarity_section(const H5Reader& r, const Array<double>& sim) {
    const auto La = static_cast<int>(sim.dims[0]), Ha = static_cast<int>(sim.dims[1]);
    const auto Lb = static_cast<int>(sim.dims[2]), Hb = static_cast<int>(sim.dims[3]);
    Heatmap h;
    h.id = "similarity";
    h.rows = La * Ha;
    h.cols = Lb * Hb;
    h.values = sim.data;
    for (int l = 0; l < La; ++l)
        for (int k = 0; k < Ha; ++k) h.row_labels.push_back("L" + std::to_string(l) + "H" + std::to_string(k));
    for (int l = 0; l < Lb; ++l)
        for (int k = 0; k < Hb; ++k) h.col_labels.push_back("L" + std::to_string(l) + "H" + std::to_string(k));
    h.row_axis = "head of A";
    h.col_axis = "head of B";
    h.scale.lo = 0.0;
    h.scale.hi = 1.0;
    h.scale.legend = "combined similarity";
    h.show_values = true;
    namespace c = schema::compare;
    return "<h2>Head similarity</h2><p>" + escape_html(r.attr_string(c::group, c::attr::similarity_definition)) +
           "</p>" + svg_heatmap(h);
}

// For a small vocabulary, each input token's top OV output and top QK key in both heads.
std::string top_token_table(const Model& a, const Model& b, int la, int ha, int lb, int hb) {
    const auto ta = top_tokens(a, la, ha), tb = top_tokens(b, lb, hb);
    std::vector<std::vector<Cell>> rows;
    for (int t = 0; t < a.cfg.d_vocab; ++t) {
        const auto& s = a.vocab[static_cast<size_t>(t)];
        const int tb_index = b.token_index(s);
        rows.push_back({{escape_html(display_token(s)), ""},
                        {escape_html(display_token(ta[static_cast<size_t>(t)].first)), ""},
                        {escape_html(display_token(tb[static_cast<size_t>(tb_index)].first)), ""},
                        {escape_html(display_token(ta[static_cast<size_t>(t)].second)), ""},
                        {escape_html(display_token(tb[static_cast<size_t>(tb_index)].second)), ""}});
    }
    return html_table({"token", "top OV output (A)", "top OV output (B)", "top QK key (A)", "top QK key (B)"}, rows);
}

// Matched pairs side by side: attention on the probe example, top tokens; then the unmatched heads.
std::string matched_section(const H5Reader& r, const Model& a, const Model& b) {
    namespace c = schema::compare;
    std::string body = "<h2>Matched heads</h2>";
    const auto matching = r.read_double(c::matching);  // [n, 5]
    const auto probe = r.exists(c::probe_example) ? r.read_strings(c::probe_example) : std::vector<std::string>{};
    const std::int64_t n = matching.dims.empty() ? 0 : static_cast<std::int64_t>(matching.dims[0]);
    for (std::int64_t i = 0; i < n; ++i) {
        auto column = [&](std::int64_t j) { return matching.at({i, j}); };
        const int la = int(column(0)), ha = int(column(1)), lb = int(column(2)), hb = int(column(3));
        body += "<h3>" + escape_html(head_label("A", la, ha)) + " &#8596; " + escape_html(head_label("B", lb, hb)) +
                " (similarity " + format_number(column(4)) + ")</h3>";
        if (!probe.empty()) {
            body += "<div class=\"side-by-side\">";
            body += svg_heatmap(attention_heatmap(a, probe, la, ha, "att-a-" + std::to_string(i)));
            body += svg_heatmap(attention_heatmap(b, probe, lb, hb, "att-b-" + std::to_string(i)));
            body += "</div>";
        }
        if (a.cfg.d_vocab <= 64) body += top_token_table(a, b, la, ha, lb, hb);
    }
    if (r.exists(c::unmatched_a)) {
        std::string list;
        const std::pair<const char*, const char*> sides[] = {{"A", c::unmatched_a}, {"B", c::unmatched_b}};
        for (const auto& [model, name] : sides) {
            const auto heads = r.read_int(name);  // [n, 2]
            for (std::int64_t i = 0; !heads.dims.empty() && i < static_cast<std::int64_t>(heads.dims[0]); ++i)
                list += head_label(model, heads.at({i, 0}), heads.at({i, 1})) + " ";
        }
        body += "<p>Unmatched: " + escape_html(list.empty() ? "none" : list) + "</p>";
    }
    return body;
}

}  // namespace

void write_compare_page(const std::string& compare_h5, const std::string& out_html) {
    namespace c = schema::compare;
    const H5Reader r(compare_h5);
    const std::string path_a = r.attr_string("/", c::root_attr::model_a);
    const std::string path_b = r.attr_string("/", c::root_attr::model_b);
    const Model a = load_model(path_a), b = load_model(path_b);
    const auto sim = r.read_double(c::similarity);  // [La, Ha, Lb, Hb]
    if (sim.dims.size() != 4) throw Error(r.where(c::similarity) + ": expected 4 dimensions");

    std::string body = "<h1>Model comparison</h1>";
    body += "<p>A: <code>" + escape_html(path_a) + "</code> (" + escape_html(to_string(a.cfg.origin)) + ", " +
            std::to_string(sim.dims[0]) + " layers &#215; " + std::to_string(sim.dims[1]) + " heads, d_model " +
            std::to_string(a.cfg.d_model) + ")<br/>B: <code>" + escape_html(path_b) + "</code> (" +
            escape_html(to_string(b.cfg.origin)) + ", " + std::to_string(sim.dims[2]) + " layers &#215; " +
            std::to_string(sim.dims[3]) + " heads, d_model " + std::to_string(b.cfg.d_model) + ")</p>";
    body += behaviour_section(r);
    body += similarity_section(r, sim);
    body += matched_section(r, a, b);
    body += "<h2>Composition edges (z &gt; " + format_number(r.attr_double(c::group, c::attr::edge_z)) + ")</h2>";
    body += edge_rows(r, c::edges_both, "in both (A's heads)");
    body += edge_rows(r, c::edges_only_a, "only in A");
    body += edge_rows(r, c::edges_only_b, "only in B");

    std::ofstream out(out_html, std::ios::binary);
    out << html_page("circuits compare", body);
    out.close();  // a write that fails when the buffer is flushed (full disk) shows only here
    if (!out) throw Error(out_html + ": cannot write the comparison page");
}

}  // namespace circuits::reports
