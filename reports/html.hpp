// HTML building blocks shared by every page: escaping and the page frame.
#pragma once

#include <string>

namespace circuits::reports {

// Escapes &, <, >, " and ' so that any token string or residual label renders as text.
std::string escape_html(const std::string& s);

}  // namespace circuits::reports
