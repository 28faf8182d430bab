// A strict, small XML parser for the report tests (well-formedness, a DOM, link resolution).
#include "tests/reports/xml_check.hpp"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace circuits::test {

namespace {

struct ParseError {
    std::string message;
};

class Parser {
public:
    explicit Parser(const std::string& s) : m_s(s) {}

    std::unique_ptr<XmlNode> document() {
        check_utf8();
        skip_misc(true);
        if (!at("<") || at("</")) fail("expected the root element");
        auto root = element();
        skip_misc(false);
        if (m_i != m_s.size()) fail("content after the root element");
        return root;
    }

    size_t line() const {
        size_t n = 1;
        for (size_t k = 0; k < m_i && k < m_s.size(); ++k) n += m_s[k] == '\n';
        return n;
    }

private:
    const std::string& m_s;
    size_t m_i = 0;

    [[noreturn]] void fail(const std::string& what) { throw ParseError{what}; }
    bool at(const char* p) const { return m_s.compare(m_i, std::char_traits<char>::length(p), p) == 0; }
    void expect(const char* p) {
        if (!at(p)) fail(std::string("expected '") + p + "'");
        m_i += std::char_traits<char>::length(p);
    }
    static bool space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
    void skip_space() {
        while (m_i < m_s.size() && space(m_s[m_i])) ++m_i;
    }

    void check_utf8() {
        for (size_t i = 0; i < m_s.size();) {
            const auto b = static_cast<unsigned char>(m_s[i]);
            size_t n = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
            if (n == 0 || i + n > m_s.size()) {
                m_i = i;
                fail("invalid UTF-8");
            }
            std::uint32_t cp = n == 1 ? b : n == 2 ? (b & 0x1F) : n == 3 ? (b & 0x0F) : (b & 0x07);
            for (size_t k = 1; k < n; ++k) {
                const auto c = static_cast<unsigned char>(m_s[i + k]);
                if ((c & 0xC0) != 0x80) {
                    m_i = i;
                    fail("invalid UTF-8");
                }
                cp = (cp << 6) | (c & 0x3F);
            }
            const bool overlong = (n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
            const bool forbidden = (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') ||
                                   (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF || cp > 0x10FFFF;
            if (overlong || forbidden) {
                m_i = i;
                fail("a character XML does not allow (code point " + std::to_string(cp) + ")");
            }
            i += n;
        }
    }

    // Whitespace, comments, and (in the prolog) an XML declaration and a DOCTYPE.
    void skip_misc(bool prolog) {
        for (;;) {
            skip_space();
            if (at("<!--")) comment();
            else if (prolog && at("<?xml")) {
                const auto end = m_s.find("?>", m_i);
                if (end == std::string::npos) fail("unterminated XML declaration");
                m_i = end + 2;
            } else if (prolog && at("<!DOCTYPE")) {
                const auto end = m_s.find('>', m_i);
                if (end == std::string::npos) fail("unterminated DOCTYPE");
                m_i = end + 1;
            } else return;
        }
    }

    void comment() {
        expect("<!--");
        const auto end = m_s.find("--", m_i);
        if (end == std::string::npos || m_s.compare(end, 3, "-->") != 0) fail("malformed comment");
        m_i = end + 3;
    }

    std::string name() {
        const size_t start = m_i;
        auto name_start = [](char c) {
            return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == ':';
        };
        if (m_i >= m_s.size() || !name_start(m_s[m_i])) fail("expected a name");
        ++m_i;
        while (m_i < m_s.size() && (name_start(m_s[m_i]) || (m_s[m_i] >= '0' && m_s[m_i] <= '9') ||
                                    m_s[m_i] == '-' || m_s[m_i] == '.'))
            ++m_i;
        return m_s.substr(start, m_i - start);
    }

    // After '&': a predefined entity or a character reference, decoded.
    std::string reference() {
        expect("&");
        const auto end = m_s.find(';', m_i);
        if (end == std::string::npos || end - m_i > 10) fail("unterminated entity reference");
        const std::string ref = m_s.substr(m_i, end - m_i);
        m_i = end + 1;
        if (ref == "amp") return "&";
        if (ref == "lt") return "<";
        if (ref == "gt") return ">";
        if (ref == "quot") return "\"";
        if (ref == "apos") return "'";
        if (ref.size() > 1 && ref[0] == '#') {
            std::uint32_t cp = 0;
            const bool hex = ref[1] == 'x';
            const std::string digits = ref.substr(hex ? 2 : 1);
            if (digits.empty()) fail("empty character reference");
            for (char c : digits) {
                int d = -1;
                if (c >= '0' && c <= '9') d = c - '0';
                else if (hex && c >= 'a' && c <= 'f') d = c - 'a' + 10;
                else if (hex && c >= 'A' && c <= 'F') d = c - 'A' + 10;
                if (d < 0) fail("bad character reference &" + ref + ";");
                cp = cp * (hex ? 16 : 10) + static_cast<std::uint32_t>(d);
                if (cp > 0x10FFFF) fail("character reference out of range");
            }
            if ((cp < 0x20 && cp != 9 && cp != 10 && cp != 13) || (cp >= 0xD800 && cp <= 0xDFFF))
                fail("character reference to a forbidden character");
            std::string out;
            if (cp < 0x80) out += static_cast<char>(cp);
            else if (cp < 0x800) out += static_cast<char>(0xC0 | (cp >> 6)), out += static_cast<char>(0x80 | (cp & 0x3F));
            else if (cp < 0x10000)
                out += static_cast<char>(0xE0 | (cp >> 12)), out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F)),
                    out += static_cast<char>(0x80 | (cp & 0x3F));
            else
                out += static_cast<char>(0xF0 | (cp >> 18)), out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F)),
                    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), out += static_cast<char>(0x80 | (cp & 0x3F));
            return out;
        }
        fail("unknown entity &" + ref + "; (only the five XML entities are defined)");
    }

    std::unique_ptr<XmlNode> element() {
        expect("<");
        auto node = std::make_unique<XmlNode>();
        node->name = name();
        for (;;) {
            const bool had_space = m_i < m_s.size() && space(m_s[m_i]);
            skip_space();
            if (at("/>")) {
                m_i += 2;
                return node;
            }
            if (at(">")) {
                ++m_i;
                break;
            }
            if (!had_space) fail("expected whitespace before an attribute");
            const std::string key = name();
            skip_space();
            expect("=");
            skip_space();
            if (m_i >= m_s.size() || (m_s[m_i] != '"' && m_s[m_i] != '\'')) fail("attribute '" + key + "' not quoted");
            const char quote = m_s[m_i++];
            std::string value;
            while (m_i < m_s.size() && m_s[m_i] != quote) {
                if (m_s[m_i] == '<') fail("'<' in attribute '" + key + "'");
                if (m_s[m_i] == '&') value += reference();
                else value += m_s[m_i++];
            }
            expect(quote == '"' ? "\"" : "'");
            if (!node->attributes.emplace(key, value).second) fail("duplicate attribute '" + key + "'");
        }
        // Content.
        for (;;) {
            if (m_i >= m_s.size()) fail("unclosed element <" + node->name + ">");
            if (at("</")) {
                m_i += 2;
                const std::string closing = name();
                if (closing != node->name) fail("</" + closing + "> closes <" + node->name + ">");
                skip_space();
                expect(">");
                return node;
            }
            if (at("<!--")) {
                comment();
                continue;
            }
            if (at("<![CDATA[")) {
                const auto end = m_s.find("]]>", m_i);
                if (end == std::string::npos) fail("unterminated CDATA");
                auto t = std::make_unique<XmlNode>();
                t->text = m_s.substr(m_i + 9, end - m_i - 9);
                node->children.push_back(std::move(t));
                m_i = end + 3;
                continue;
            }
            if (at("<")) {
                node->children.push_back(element());
                continue;
            }
            auto t = std::make_unique<XmlNode>();
            while (m_i < m_s.size() && m_s[m_i] != '<') {
                if (m_s[m_i] == '&') t->text += reference();
                else if (at("]]>")) fail("']]>' in text");
                else t->text += m_s[m_i++];
            }
            node->children.push_back(std::move(t));
        }
    }
};

}  // namespace

std::string XmlNode::text_content() const {
    if (name.empty()) return text;
    std::string out;
    for (const auto& c : children) out += c->text_content();
    return out;
}

const XmlNode* XmlNode::find_id(const std::string& id) const {
    if (!name.empty() && attr("id") == id) return this;
    for (const auto& c : children)
        if (const auto* f = c->find_id(id)) return f;
    return nullptr;
}

void XmlNode::find_all(const std::string& element, std::vector<const XmlNode*>& out) const {
    if (name == element) out.push_back(this);
    for (const auto& c : children) c->find_all(element, out);
}

XmlDocument parse_xml(const std::string& text) {
    XmlDocument doc;
    Parser p(text);
    try {
        doc.root = p.document();
        doc.ok = true;
    } catch (const ParseError& e) {
        doc.error = "line " + std::to_string(p.line()) + ": " + e.message;
    }
    return doc;
}

XmlDocument parse_xml_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        XmlDocument d;
        d.error = path + ": cannot read";
        return d;
    }
    std::stringstream ss;
    ss << f.rdbuf();
    auto doc = parse_xml(ss.str());
    if (!doc.ok) doc.error = path + ": " + doc.error;
    return doc;
}

namespace {

void collect_links(const XmlNode& n, std::vector<std::string>& out) {
    for (const char* key : {"href", "src", "xlink:href"})
        if (n.attributes.count(key)) out.push_back(n.attributes.at(key));
    for (const auto& c : n.children) collect_links(*c, out);
}

}  // namespace

std::vector<std::string> broken_links(const std::string& page_path, const XmlNode& root) {
    namespace fs = std::filesystem;
    std::vector<std::string> links, problems;
    collect_links(root, links);
    const fs::path dir = fs::path(page_path).parent_path();
    for (const auto& link : links) {
        const std::string where = page_path + ": link '" + link + "'";
        if (link.empty()) {
            problems.push_back(where + " is empty");
            continue;
        }
        if (link.find("://") != std::string::npos || link.rfind("//", 0) == 0 || link.rfind("file:", 0) == 0 ||
            link.rfind("http:", 0) == 0 || link.rfind("https:", 0) == 0 || link.rfind("javascript:", 0) == 0 ||
            link.rfind("data:", 0) == 0) {
            problems.push_back(where + " is not a relative link");
            continue;
        }
        const auto hash = link.find('#');
        const std::string file = link.substr(0, hash), fragment = hash == std::string::npos ? "" : link.substr(hash + 1);
        const fs::path target = file.empty() ? fs::path(page_path) : dir / file;
        if (!fs::is_regular_file(target)) {
            problems.push_back(where + " does not resolve (" + target.string() + ")");
            continue;
        }
        if (fragment.empty()) continue;
        if (file.empty()) {
            if (!root.find_id(fragment)) problems.push_back(where + ": no element with that id");
            continue;
        }
        const auto doc = parse_xml_file(target.string());
        if (!doc.ok || !doc.root->find_id(fragment)) problems.push_back(where + ": no element with that id in the target");
    }
    return problems;
}

}  // namespace circuits::test
