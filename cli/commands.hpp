// Factories for each subcommand; commands.cpp lists them in one registry.
#pragma once

#include "cli/cli.hpp"

namespace circuits::cli {

Command inspect_command();
Command run_command();
Command planted_command();
Command analyze_command();
Command compile_command();
Command eval_command();
Command report_command();
Command compare_command();
Command train_command();

}  // namespace circuits::cli
