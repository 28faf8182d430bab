// Token-table data files (base64 ids and half floats), the shared vocabulary file and the search controls.
#include "reports/token_search.hpp"

#include "reports/attention_viewer.hpp"
#include "reports/html.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace circuits::reports {

bool table_is_searchable(const ReportContext& ctx, const TopTable& t) {
    return t.rows > ctx.options.max_token_rows && t.k > 0;
}

unsigned short to_half(float v) {
    std::uint32_t f;
    std::memcpy(&f, &v, 4);
    const std::uint32_t sign = (f >> 16) & 0x8000u;
    const std::uint32_t exp = (f >> 23) & 0xFFu;
    std::uint32_t mant = f & 0x7FFFFFu;
    if (exp == 0xFF) return static_cast<unsigned short>(sign | 0x7C00u | (mant ? 0x200u : 0u));  // inf, NaN
    const int e = static_cast<int>(exp) - 127 + 15;
    if (e >= 31) return static_cast<unsigned short>(sign | 0x7C00u);  // overflow: inf
    if (e <= 0) {                                                     // subnormal half or zero
        if (e < -10) return static_cast<unsigned short>(sign);
        mant |= 0x800000u;
        const int shift = 14 - e;
        std::uint32_t h = mant >> shift;
        const std::uint32_t rest = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rest > half || (rest == half && (h & 1u))) ++h;
        return static_cast<unsigned short>(sign | h);
    }
    std::uint32_t h = (static_cast<std::uint32_t>(e) << 10) | (mant >> 13);
    const std::uint32_t rest = mant & 0x1FFFu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // may carry into the exponent: still right
    return static_cast<unsigned short>(sign | h);
}

std::string table_data_js(const ReportContext& ctx, const std::string& key, const TopTable& t) {
    const int k = std::min(t.k, ctx.options.max_top_k);
    std::int64_t max_token = 0;
    for (auto v : t.tokens.data) max_token = std::max(max_token, v);
    const bool wide = max_token >= 0xFFFF;
    std::vector<unsigned char> ids, values;
    ids.reserve(static_cast<size_t>(t.rows) * static_cast<size_t>(k) * (wide ? 4 : 2));
    values.reserve(static_cast<size_t>(t.rows) * static_cast<size_t>(k) * 2);
    for (int r = 0; r < t.rows; ++r)
        for (int j = 0; j < k; ++j) {
            const auto tok = t.token(r, j);
            const std::uint32_t id = tok < 0 ? 0xFFFFFFFFu : static_cast<std::uint32_t>(tok);
            for (int b = 0; b < (wide ? 4 : 2); ++b) ids.push_back(static_cast<unsigned char>(id >> (8 * b)));
            const unsigned short h = to_half(t.value(r, j));
            values.push_back(static_cast<unsigned char>(h & 0xFF));
            values.push_back(static_cast<unsigned char>(h >> 8));
        }
    return "window.circuitsTables = window.circuitsTables || {};\nwindow.circuitsTables[" + json_string(key) +
           "] = {\"rows\":" + std::to_string(t.rows) + ",\"k\":" + std::to_string(k) +
           ",\"wide\":" + (wide ? "true" : "false") + ",\n\"ids\":\"" + base64(ids) + "\",\n\"values\":\"" +
           base64(values) + "\"};\n";
}

std::string vocab_js(const ReportContext& ctx) {
    auto list = [&](const std::vector<std::string>& v) {
        std::string out = "[";
        for (size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + json_string(display_token(v[i]));
        return out + "]";
    };
    if (!ctx.model) return "window.circuitsVocab = {\"in\": [], \"out\": []};\n";
    std::vector<std::string> in, out;
    for (size_t i = 0; i < ctx.model->vocab.size(); ++i) in.push_back(ctx.model->vocab[i]);
    for (size_t i = 0; i < ctx.model->vocab_out.size(); ++i) out.push_back(ctx.model->vocab_out[i]);
    return "window.circuitsVocab = {\"in\": " + list(in) + ",\n\"out\": " + list(out) + "};\n";
}

std::string table_search_html(const ReportContext& ctx, const TopTable& t, bool output_vocab,
                              const std::string& table_id, const std::string& key) {
    // The strongest row the page does not show: a search the self-test can check.
    const auto shown = rows_to_show(t, ctx.options.max_token_rows);
    std::vector<char> on_page(static_cast<size_t>(t.rows), 0);
    for (int r : shown) on_page[static_cast<size_t>(r)] = 1;
    int probe = -1;
    for (int r : rows_to_show(t, std::min(t.rows, ctx.options.max_token_rows + 1)))
        if (!on_page[static_cast<size_t>(r)]) probe = r;
    std::string attrs;
    if (probe >= 0 && t.token(probe, 0) >= 0) {
        const auto top = t.token(probe, 0);
        attrs = " data-probe=\"" + escape_html(display_token(ctx.token(probe))) + "\" data-expect=\"" +
                escape_html(display_token(output_vocab ? ctx.token_out(top) : ctx.token(top))) + "\"";
    }
    return "<div class=\"tsearch\" id=\"" + escape_html(table_id) + "-search\" data-table=\"" + escape_html(table_id) +
           "\" data-key=\"" + escape_html(key) + "\" data-src=\"data/" + escape_html(key) +
           ".js\" data-vocab=\"../vocab.js\" data-out=\"" + (output_vocab ? "1" : "0") + "\"" + attrs +
           "><label>search a token <input type=\"search\" placeholder=\"token string\"/></label> "
           "<button type=\"button\" class=\"tprev\">← rows</button><button type=\"button\" class=\"tnext\">rows "
           "→</button> <span class=\"tstatus\">all " + std::to_string(t.rows) +
           " rows: search, or page through them in token order</span></div>\n";
}

}  // namespace circuits::reports
