// The attention viewer's markup and data: tokens and quantised patterns as JSON for report.js.
#include "reports/attention_viewer.hpp"

#include "reports/html.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace circuits::reports {

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '<': out += "\\u003c"; break;
            case '>': out += "\\u003e"; break;
            case '&': out += "\\u0026"; break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    return out + "\"";
}

std::string base64(const std::vector<unsigned char>& bytes) {
    static const char* const kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    for (size_t i = 0; i < bytes.size(); i += 3) {
        const unsigned v = (unsigned(bytes[i]) << 16) | (i + 1 < bytes.size() ? unsigned(bytes[i + 1]) << 8 : 0u) |
                           (i + 2 < bytes.size() ? unsigned(bytes[i + 2]) : 0u);
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
        out += i + 2 < bytes.size() ? kAlphabet[v & 63] : '=';
    }
    return out;
}

namespace {

// [T, T] weights in [0, 1] as bytes round(255 w), row-major.
std::string quantised_pattern(const Matrix& p) {
    std::vector<unsigned char> q(static_cast<size_t>(p.rows() * p.cols()));
    for (Eigen::Index i = 0; i < p.rows(); ++i)
        for (Eigen::Index j = 0; j < p.cols(); ++j) {
            const double w = std::isfinite(p(i, j)) ? std::clamp(double(p(i, j)), 0.0, 1.0) : 0.0;
            q[static_cast<size_t>(i * p.cols() + j)] = static_cast<unsigned char>(std::lround(255.0 * w));
        }
    return base64(q);
}

std::string input_json(const ReportContext& ctx, const AttentionInput& in,
                       const std::vector<std::pair<int, int>>& heads) {
    std::string out = "{\"name\":" + json_string(in.name) + ",\"tokens\":[";
    for (size_t i = 0; i < in.tokens.size(); ++i)
        out += (i ? "," : "") + json_string(display_token(ctx.token(in.tokens[i])));
    out += "],\"patterns\":[";
    for (size_t k = 0; k < heads.size(); ++k)
        out += (k ? ",\"" : "\"") +
               quantised_pattern(in.patterns[static_cast<size_t>(heads[k].first)][static_cast<size_t>(heads[k].second)]) +
               "\"";
    return out + "]}";
}

}  // namespace

std::string attention_viewer_html(const ReportContext& ctx, const std::vector<std::pair<int, int>>& heads,
                                  const std::string& id) {
    std::vector<const AttentionInput*> inputs;
    if (ctx.probe) inputs.push_back(&*ctx.probe);
    for (const auto& in : ctx.inputs) inputs.push_back(&in);
    if (inputs.empty() || heads.empty()) return "";
    std::string json = "{\"heads\":[";
    for (size_t k = 0; k < heads.size(); ++k)
        json += (k ? "," : "") + json_string(head_name(heads[k].first, heads[k].second));
    json += "],\"inputs\":[";
    for (size_t i = 0; i < inputs.size(); ++i) json += (i ? "," : "") + input_json(ctx, *inputs[i], heads);
    json += "]}";
    return "<div class=\"viewer\" id=\"" + escape_html(id) + "\" data-json=\"" + escape_html(id) +
           "-data\"><noscript><p class=\"note\">The attention viewer needs JavaScript; the static heatmap of the "
           "probe is above.</p></noscript></div>\n<script type=\"application/json\" id=\"" + escape_html(id) +
           "-data\">" + json + "</script>\n";
}

}  // namespace circuits::reports
