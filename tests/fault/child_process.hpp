// Running the circuits binary as a child process for the fault tests: to the end (optionally under
// a file-size limit, the "full disk"), or killed with SIGKILL after a delay.
#pragma once
#include <chrono>
#include <string>
#include <vector>

namespace circuits::test {

struct ChildOptions {
    long file_size_limit = -1;  // RLIMIT_FSIZE in bytes, SIGXFSZ ignored (writes fail with EFBIG); -1 = none
    std::string output_file;    // the child's stdout and stderr; "" = /dev/null
};

struct ChildResult {
    bool killed = false;  // ended by our SIGKILL (false: it exited on its own first)
    int exit_status = -1;  // when it exited
    double seconds = 0.0;  // wall time from start to end
    long max_rss_kb = 0;   // peak resident memory (wait4's rusage)
};

// Runs `circuits args...` (CIRCUITS_BINARY) to the end.
ChildResult run_child(const std::vector<std::string>& args, const ChildOptions& options = {});

// Runs `circuits args...` and sends SIGKILL after `delay` unless it has ended by then.
ChildResult kill_child_after(const std::vector<std::string>& args, std::chrono::microseconds delay,
                             const ChildOptions& options = {});

}  // namespace circuits::test
