// HTML escaping, token display, number formatting and the page frame shared by every page.
#include "reports/html.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>

namespace circuits::reports {

namespace {

// Length of the valid UTF-8 sequence starting at s[i] (1 to 4), or 0 when it is not one: overlong
// forms, surrogates and code points above U+10FFFF are invalid. The code point goes to `cp`.
size_t utf8_sequence(const std::string& s, size_t i, std::uint32_t& cp) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
        cp = b0;
        return 1;
    }
    size_t n = 0;
    std::uint32_t min = 0;
    if ((b0 & 0xE0) == 0xC0) n = 2, cp = b0 & 0x1F, min = 0x80;
    else if ((b0 & 0xF0) == 0xE0) n = 3, cp = b0 & 0x0F, min = 0x800;
    else if ((b0 & 0xF8) == 0xF0) n = 4, cp = b0 & 0x07, min = 0x10000;
    else return 0;
    if (i + n > s.size()) return 0;
    for (size_t k = 1; k < n; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

// Characters XML 1.0 does not allow in a document.
bool xml_forbidden(std::uint32_t cp) {
    return (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') || cp == 0xFFFE || cp == 0xFFFF;
}

std::string hex_byte(unsigned char b) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\x%02X", b);
    return buf;
}

const char* const kReplacement = "\xEF\xBF\xBD";  // U+FFFD

}  // namespace

std::string escape_html(const std::string& s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        std::uint32_t cp = 0;
        const size_t n = utf8_sequence(s, i, cp);
        if (n == 0 || xml_forbidden(cp)) {
            out += kReplacement;
            i += n == 0 ? 1 : n;
            continue;
        }
        switch (cp) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out.append(s, i, n);
        }
        i += n;
    }
    return out;
}

std::string display_token(const std::string& token) {
    if (token.empty()) return "(empty)";
    std::string out;
    for (size_t i = 0; i < token.size();) {
        std::uint32_t cp = 0;
        const size_t n = utf8_sequence(token, i, cp);
        if (n == 0) {
            out += hex_byte(static_cast<unsigned char>(token[i]));
            ++i;
            continue;
        }
        if (cp == '\n') out += "\\n";
        else if (cp == '\t') out += "\\t";
        else if (cp == '\r') out += "\\r";
        else if (cp < 0x20 || cp == 0x7F) out += hex_byte(static_cast<unsigned char>(cp));
        else if (cp == 0xFFFE || cp == 0xFFFF) out += kReplacement;
        else out.append(token, i, n);
        i += n;
    }
    return out;
}

std::string truncate_utf8(const std::string& s, size_t max_chars) {
    size_t chars = 0;
    for (size_t i = 0; i < s.size();) {
        std::uint32_t cp = 0;
        const size_t n = utf8_sequence(s, i, cp);
        if (chars == max_chars) return s.substr(0, i) + "\xE2\x80\xA6";  // …
        ++chars;
        i += n == 0 ? 1 : n;
    }
    return s;
}

std::string format_number(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", v);
    return buf;
}

std::string escape_markdown(const std::string& s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '|': case '*': case '_': case '`': case '[': case ']': case '<': case '>': case '#':
            case '\\':
                out += '\\';
                out += c;
                break;
            case '\n': case '\r': out += ' '; break;
            default: out += c;
        }
    }
    return out;
}

namespace {

const char* const kStyle = R"(
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 1.5em auto; max-width: 1200px;
       padding: 0 1em; color: #1d1d1f; background: #fff; line-height: 1.4; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
h3 { font-size: 1.0em; margin-top: 1.2em; }
nav { font-size: 0.9em; margin-bottom: 1em; }
nav a { margin-right: 1em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: left; vertical-align: top; }
th { background: #f4f4f6; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .tok { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; white-space: pre; }
.tok { background: #f0f0f4; border-radius: 3px; padding: 0 2px; }
.val { color: #666; font-size: 0.9em; margin-left: 0.3em; }
pre { background: #f6f6f8; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
.note { color: #8a6d3b; background: #fcf8e3; padding: 0.3em 0.6em; border-radius: 3px; font-size: 0.9em; }
.figs { display: flex; flex-wrap: wrap; gap: 1.5em; align-items: flex-start; }
figure { margin: 0; }
figcaption { font-size: 0.85em; color: #444; max-width: 520px; }
svg text { font-family: system-ui, sans-serif; }
.badge { display: inline-block; font-size: 0.8em; padding: 0 0.5em; border-radius: 8px; background: #e3ecfa;
         margin-right: 0.4em; }
ul.heads li { margin: 0.1em 0; }
.scroll { overflow-x: auto; max-width: 100%; }
.viewer { margin: 0.5em 0 1em; }
.vbar { display: flex; flex-wrap: wrap; gap: 0.8em; align-items: center; margin-bottom: 0.4em; }
.vheads { display: flex; flex-wrap: wrap; gap: 0.4em; }
.vhead { display: flex; flex-direction: column; align-items: center; font-size: 0.75em; padding: 2px;
         border: 2px solid #ccc; background: #fff; cursor: pointer; }
.vhead[aria-pressed="true"] { border-color: #d62728; }
.vhead canvas { width: 56px; height: 56px; image-rendering: pixelated; border: 1px solid #ddd; }
.vtokens { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.85em;
           line-height: 1.9; max-height: 16em; overflow-y: auto; border: 1px solid #eee; padding: 0.3em; }
.vtok { white-space: pre; padding: 1px 2px; margin: 0 1px; border-radius: 2px; cursor: default; }
.vtok.vq { outline: 2px solid #d62728; }
.vtok:focus { outline: 2px solid #d62728; }
.vcaption { font-size: 0.85em; color: #333; min-height: 1.4em; }
.vmain { width: min(520px, 90vw); aspect-ratio: 1; image-rendering: pixelated; border: 1px solid #ccc; }
button.export { display: block; font-size: 0.75em; margin-bottom: 0.2em; }
)";

}  // namespace

std::string html_page(const std::string& title, const std::string& body, const std::string& script_src) {
    std::string out;
    out += "<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n";
    out += "<meta charset=\"utf-8\"/>\n";
    out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n";
    out += "<title>" + escape_html(title) + "</title>\n<style>" + std::string(kStyle) + "</style>\n";
    if (!script_src.empty()) out += "<script src=\"" + escape_html(script_src) + "\"></script>\n";
    out += "</head>\n<body>\n";
    out += body;
    out += "</body>\n</html>\n";
    return out;
}

std::string html_table(const std::vector<std::string>& header, const std::vector<std::vector<Cell>>& rows,
                       const std::string& id, const std::string& klass) {
    std::string out = "<table";
    if (!id.empty()) out += " id=\"" + escape_html(id) + "\"";
    if (!klass.empty()) out += " class=\"" + escape_html(klass) + "\"";
    out += ">\n<thead><tr>";
    for (const auto& h : header) out += "<th>" + escape_html(h) + "</th>";
    out += "</tr></thead>\n<tbody>\n";
    for (const auto& row : rows) {
        out += "<tr>";
        for (const auto& c : row) {
            out += c.klass.empty() ? "<td>" : "<td class=\"" + escape_html(c.klass) + "\">";
            out += c.html + "</td>";
        }
        out += "</tr>\n";
    }
    out += "</tbody>\n</table>\n";
    return out;
}

std::string note(const std::string& text) { return "<p class=\"note\">" + escape_html(text) + "</p>\n"; }

}  // namespace circuits::reports
