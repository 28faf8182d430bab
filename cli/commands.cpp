// The registry of subcommands: adding one touches its own file and one line here.
#include "cli/commands.hpp"

namespace circuits::cli {

const std::vector<Command>& commands() {
    static const std::vector<Command> all = {
        inspect_command(),
        run_command(),
        planted_command(),
        analyze_command(),
        compile_command(),
        eval_command(),
        report_command(),
        compare_command(),
        train_command(),
    };
    return all;
}

}  // namespace circuits::cli
