// Subcommand dispatch, help text and error handling shared by every subcommand.
#include "cli/cli.hpp"

#include "lib/error.hpp"

#include <unistd.h>

#include <iostream>
#include <new>

namespace circuits::cli {

namespace po = boost::program_options;

bool stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

namespace {

void print_overview(std::ostream& out) {
    out << "circuits " << CIRCUITS_VERSION
        << ": mechanistic interpretability of attention-only transformers\n\n"
           "Usage: circuits COMMAND [OPTIONS]\n\nCommands:\n";
    for (const auto& c : commands()) {
        out << "  " << c.name << std::string(c.name.size() < 10 ? 10 - c.name.size() : 1, ' ') << c.summary << "\n";
    }
    out << "\nRun 'circuits COMMAND --help' for a command's options and an example.\n";
}

void print_help(const Command& c, const po::options_description& opts, std::ostream& out) {
    out << c.summary << "\n\nUsage: " << c.usage << "\n\n" << c.description << "\n\n" << opts << "\nExample:\n  "
        << c.example << "\n";
}

int run_command(const Command& c, const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    po::options_description opts("Options");
    opts.add_options()("help,h", "show this help");
    po::positional_options_description pos;
    c.declare(opts, pos);
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(args).options(opts).positional(pos).run(), vm);
        if (vm.count("help")) {
            print_help(c, opts, out);
            return 0;
        }
        po::notify(vm);
    } catch (const po::error& e) {
        throw UsageError(std::string(e.what()) + " (see 'circuits " + c.name + " --help')");
    }
    return c.run(vm, out, err);
}

}  // namespace

int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
    try {
        if (args.empty()) {
            print_overview(err);
            return 2;
        }
        const std::string& name = args[0];
        if (name == "--help" || name == "-h" || name == "help") {
            print_overview(out);
            return 0;
        }
        if (name == "--version") {
            out << "circuits " << CIRCUITS_VERSION << "\n";
            return 0;
        }
        for (const auto& c : commands())
            if (c.name == name) return run_command(c, {args.begin() + 1, args.end()}, out, err);
        throw UsageError("unknown command '" + name + "' (see 'circuits --help')");
    } catch (const UsageError& e) {
        err << "circuits: error: " << e.what() << "\n";
        return 2;
    } catch (const Error& e) {
        err << "circuits: error: " << e.what() << "\n";
        return 1;
    } catch (const std::bad_alloc&) {
        err << "circuits: error: out of memory\n";
        return 1;
    } catch (const std::exception& e) {
        err << "circuits: error: " << e.what() << "\n";
        return 1;
    } catch (...) {
        err << "circuits: error: unknown failure\n";
        return 1;
    }
}

}  // namespace circuits::cli
