// The RASP parser: tokens -> syntax tree, with errors that give the line, the column and what was expected.
#pragma once

#include <string>

#include "lib/rasp/ast.hpp"

namespace circuits::rasp {

// Parses a whole file. Throws Error "FILE:LINE:COL: expected ... after ..." on a syntax error.
// Names are not resolved here (see elaborate() in program.hpp).
Ast parse(const std::string& source, const std::string& filename);

}  // namespace circuits::rasp
