// The RASP program a command reads, with the --vocab, --max-len and --causal options that
// `compile` and `eval` share applied (defined in compile.cpp).
#pragma once

#include "lib/rasp/program.hpp"

#include <boost/program_options.hpp>

#include <string>

namespace circuits::cli {

rasp::Program load_program_with_overrides(const std::string& path, const boost::program_options::variables_map& vm);

}  // namespace circuits::cli
