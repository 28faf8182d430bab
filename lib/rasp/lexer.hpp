// The RASP lexer: source text -> tokens with line and column, newlines ending statements.
#pragma once

#include <string>
#include <vector>

#include "lib/rasp/value.hpp"

namespace circuits::rasp {

enum class TokenKind {
    name,     // identifiers and keywords (tokens, select, and, let, ...)
    number,   // 3, 0.5, 1e-3
    string,   // "x" or 'x'
    word,     // an item of a `vocab` line: a bare word or a quoted string
    op,       // + - * / // % == != < <= > >= = -> ( ) , :
    newline,  // the end of a statement (not emitted inside parentheses)
    end,      // end of input
};

struct Token {
    TokenKind kind = TokenKind::end;
    std::string text;  // as written (strings without their quotes)
    Value value;       // number, string and word tokens
    int line = 0;      // 1-based
    int col = 0;       // 1-based
    int end_line = 0;  // where the token ends (the position after its last character)
    int end_col = 0;
};

// Splits `source` into tokens. `#` starts a comment; a newline ends a statement unless a
// parenthesis is open. After `vocab` at the start of a statement the rest of the line is read as
// whitespace-separated words (quoted when they contain spaces or `#`), so that tokens such as
// `(` or `}` can be listed. Throws Error "FILE:LINE:COL: ..." on a character that starts no token
// or an unterminated string.
std::vector<Token> tokenize(const std::string& source, const std::string& filename);

// "FILE:LINE:COL: " for messages.
std::string location(const std::string& filename, int line, int col);

}  // namespace circuits::rasp
