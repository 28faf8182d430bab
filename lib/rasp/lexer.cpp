// The RASP lexer.
#include "lib/rasp/lexer.hpp"

#include <cctype>

#include "lib/error.hpp"

namespace circuits::rasp {

std::string location(const std::string& filename, int line, int col) {
    return filename + ":" + std::to_string(line) + ":" + std::to_string(col) + ": ";
}

namespace {

class Lexer {
public:
    Lexer(const std::string& source, const std::string& filename) : m_src(source), m_file(filename) {}

    std::vector<Token> run() {
        while (m_pos < m_src.size()) {
            const char c = m_src[m_pos];
            if (c == '\n') {
                if (m_depth == 0) newline();
                advance();
            } else if (c == ' ' || c == '\t' || c == '\r') {
                advance();
            } else if (c == '#') {
                skip_comment();
            } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
                name();
            } else if (std::isdigit(static_cast<unsigned char>(c)) ||
                       (c == '.' && m_pos + 1 < m_src.size() &&
                        std::isdigit(static_cast<unsigned char>(m_src[m_pos + 1])))) {
                number();
            } else if (c == '"' || c == '\'') {
                const int line = m_line, col = m_col;
                std::string raw;
                const std::string s = quoted(&raw);
                push(TokenKind::string, s, line, col).value = Value::string(s);
            } else {
                op();
            }
        }
        if (m_depth == 0) newline();
        m_out.push_back(Token{TokenKind::end, "", Value(), m_line, m_col, m_line, m_col});
        return std::move(m_out);
    }

private:
    const std::string& m_src;
    const std::string& m_file;
    size_t m_pos = 0;
    int m_line = 1, m_col = 1;
    int m_depth = 0;  // open parentheses
    std::vector<Token> m_out;

    [[noreturn]] void fail(int line, int col, const std::string& msg) const {
        throw Error(location(m_file, line, col) + msg);
    }

    void advance() {
        if (m_src[m_pos] == '\n') {
            ++m_line;
            m_col = 1;
        } else {
            ++m_col;
        }
        ++m_pos;
    }

    // Called when the scan has just passed the token, so the current position is its end.
    Token& push(TokenKind kind, std::string text, int line, int col) {
        m_out.push_back(Token{kind, std::move(text), Value(), line, col, m_line, m_col});
        return m_out.back();
    }

    bool at_statement_start() const { return m_out.empty() || m_out.back().kind == TokenKind::newline; }

    void newline() {
        if (!at_statement_start()) push(TokenKind::newline, "", m_line, m_col);
    }

    void skip_comment() {
        while (m_pos < m_src.size() && m_src[m_pos] != '\n') advance();
    }

    void name() {
        const int line = m_line, col = m_col;
        const bool first = at_statement_start();
        const size_t start = m_pos;
        while (m_pos < m_src.size() && (std::isalnum(static_cast<unsigned char>(m_src[m_pos])) || m_src[m_pos] == '_'))
            advance();
        const std::string text = m_src.substr(start, m_pos - start);
        push(TokenKind::name, text, line, col);
        if (first && text == "vocab") words();
    }

    // The rest of a `vocab` line as words.
    void words() {
        while (m_pos < m_src.size() && m_src[m_pos] != '\n') {
            const char c = m_src[m_pos];
            if (std::isspace(static_cast<unsigned char>(c))) {  // '\v' and '\f' too: a word stops at them
                advance();
            } else if (c == '#') {
                skip_comment();
            } else if (c == '"' || c == '\'') {
                const int line = m_line, col = m_col;
                std::string raw;
                const std::string s = quoted(&raw);
                push(TokenKind::word, raw, line, col).value = Value::string(s);
            } else {
                const int line = m_line, col = m_col;
                const size_t start = m_pos;
                while (m_pos < m_src.size() && !std::isspace(static_cast<unsigned char>(m_src[m_pos])) &&
                       m_src[m_pos] != '#')
                    advance();
                const std::string w = m_src.substr(start, m_pos - start);
                push(TokenKind::word, w, line, col).value = Value::from_token(w);
            }
        }
    }

    void number() {
        const int line = m_line, col = m_col;
        const size_t start = m_pos;
        bool is_float = false;
        const auto digits = [&] {
            while (m_pos < m_src.size() && std::isdigit(static_cast<unsigned char>(m_src[m_pos]))) advance();
        };
        digits();
        if (m_pos < m_src.size() && m_src[m_pos] == '.') {
            is_float = true;
            advance();
            digits();
        }
        if (m_pos < m_src.size() && (m_src[m_pos] == 'e' || m_src[m_pos] == 'E')) {
            const size_t save = m_pos;
            const int save_col = m_col;
            advance();
            if (m_pos < m_src.size() && (m_src[m_pos] == '+' || m_src[m_pos] == '-')) advance();
            if (m_pos < m_src.size() && std::isdigit(static_cast<unsigned char>(m_src[m_pos]))) {
                is_float = true;
                digits();
            } else {
                m_pos = save;
                m_col = save_col;
            }
        }
        const std::string text = m_src.substr(start, m_pos - start);
        if (m_pos < m_src.size() && (std::isalpha(static_cast<unsigned char>(m_src[m_pos])) || m_src[m_pos] == '_'))
            fail(m_line, m_col, "unexpected '" + std::string(1, m_src[m_pos]) + "' after the number " + text);
        const Value v = Value::from_token(text);
        if (!v.is_number() || (!is_float && !v.is_int())) fail(line, col, "number " + text + " is out of range");
        push(TokenKind::number, text, line, col).value = v;
    }

    // Reads a quoted string at m_pos; returns its value and stores the raw text in *raw.
    std::string quoted(std::string* raw) {
        const int line = m_line, col = m_col;
        const char q = m_src[m_pos];
        const size_t start = m_pos;
        advance();
        std::string s;
        while (true) {
            if (m_pos >= m_src.size() || m_src[m_pos] == '\n')
                fail(line, col, "unterminated string (expected the closing " + std::string(1, q) + ")");
            const char c = m_src[m_pos];
            if (c == q) {
                advance();
                break;
            }
            if (c == '\\' && m_pos + 1 < m_src.size()) {
                advance();
                const char e = m_src[m_pos];
                s += e == 'n' ? '\n' : (e == 't' ? '\t' : e);
                advance();
                continue;
            }
            s += c;
            advance();
        }
        *raw = m_src.substr(start, m_pos - start);
        return s;
    }

    void op() {
        const int line = m_line, col = m_col;
        static const char* const two[] = {"//", "==", "!=", "<=", ">=", "->"};
        for (const char* t : two)
            if (m_src.compare(m_pos, 2, t) == 0) {
                advance();
                advance();
                push(TokenKind::op, t, line, col);
                return;
            }
        const char c = m_src[m_pos];
        if (std::string("+-*/%<>=(),:").find(c) == std::string::npos) {
            if (static_cast<unsigned char>(c) >= 0x80)
                fail(line, col, "unexpected non-ASCII character (strings must be quoted)");
            fail(line, col, "unexpected character '" + std::string(1, c) + "'");
        }
        if (c == '(') ++m_depth;
        if (c == ')' && m_depth > 0) --m_depth;
        advance();
        push(TokenKind::op, std::string(1, c), line, col);
    }
};

}  // namespace

std::vector<Token> tokenize(const std::string& source, const std::string& filename) {
    return Lexer(source, filename).run();
}

}  // namespace circuits::rasp
