// Entry point of the `circuits` executable: everything is caught inside run_cli.
#include "cli/cli.hpp"

#include <iostream>

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    return circuits::cli::run_cli(args, std::cout, std::cerr);
}
