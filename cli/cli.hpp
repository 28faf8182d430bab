// The command line, callable in-process: run_cli(args, out, err) returns the exit status.
#pragma once

#include <boost/program_options.hpp>

#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

namespace circuits::cli {

// Runs `circuits ARGS...` (args excludes the program name). Never throws: errors are printed to
// `err` as "circuits: error: ..." and turned into exit status 1 (data) or 2 (usage).
int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

// One subcommand: its help text and its body. The body throws circuits::Error / UsageError.
struct Command {
    std::string name;
    std::string summary;      // one line
    std::string usage;        // e.g. "circuits inspect MODEL"
    std::string description;  // a paragraph
    std::string example;      // a command line
    std::function<void(boost::program_options::options_description&,
                       boost::program_options::positional_options_description&)>
        declare;
    std::function<int(const boost::program_options::variables_map&, std::ostream& out, std::ostream& err)> run;
};

// Every subcommand, in the order `circuits --help` lists them. Defined in commands.cpp.
const std::vector<Command>& commands();

// Whether stderr is a terminal (progress bars are only drawn there).
bool stderr_is_terminal();

}  // namespace circuits::cli
