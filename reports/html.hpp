// HTML building blocks shared by every page: escaping, token display, number formatting, the page frame.
#pragma once

#include <string>
#include <vector>

namespace circuits::reports {

// Escapes &, <, >, " and ' so that any token string or residual label renders as text. The result is
// also well-formed XML: bytes that are not valid UTF-8, and control characters other than tab, newline
// and carriage return, become U+FFFD.
std::string escape_html(const std::string& s);

// A token string made visible: control characters as \n, \t, \r or \xNN, bytes that are not valid
// UTF-8 as \xNN, the empty string as "(empty)". Not escaped: pass the result through escape_html.
std::string display_token(const std::string& token);

// `s` cut to at most `max_chars` UTF-8 code points, with "…" appended when cut.
std::string truncate_utf8(const std::string& s, size_t max_chars);

// The one number format of every page and summary.md: 4 significant digits ("%.4g"), "NaN" for NaN,
// "inf" / "-inf". Tests format the values they read from the results file with it.
std::string format_number(double v);

// Escapes text for Markdown table cells and prose: backslash-escapes the characters Markdown
// interprets (| * _ ` [ ] < > # \), replaces newlines by spaces.
std::string escape_markdown(const std::string& s);

// A column of a plain HTML table.
struct Cell {
    std::string html;   // already escaped / rendered
    std::string klass;  // CSS class, may be empty
};

// A complete XHTML-style page (every tag closed, attributes quoted) with the shared style sheet
// inline; `title` is escaped here, `body` is inserted as is. `script_src`: the relative path of the
// report's report.js ("report.js", "../report.js"), or "" for a page without scripts. Nothing is
// loaded from outside the report folder.
std::string html_page(const std::string& title, const std::string& body, const std::string& script_src = "");

// <table> with a header row; header cells are escaped text, body cells are HTML.
std::string html_table(const std::vector<std::string>& header, const std::vector<std::vector<Cell>>& rows,
                       const std::string& id = "", const std::string& klass = "");

// <p class="note">text</p> for a section whose data is absent; text is escaped.
std::string note(const std::string& text);

}  // namespace circuits::reports
