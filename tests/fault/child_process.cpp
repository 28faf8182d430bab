// fork/exec of the circuits binary with a file-size limit, a wait, or a SIGKILL after a delay.
#include "tests/fault/child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <thread>

namespace circuits::test {

namespace {

using Clock = std::chrono::steady_clock;

// In the child: limits, output, exec. Only async-signal-safe calls after fork.
[[noreturn]] void exec_child(const std::vector<char*>& argv, const ChildOptions& options) {
    const char* out = options.output_file.empty() ? "/dev/null" : options.output_file.c_str();
    const int fd = ::open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
    }
    if (options.file_size_limit >= 0) {
        ::signal(SIGXFSZ, SIG_IGN);  // stays ignored across exec: a write past the limit fails with EFBIG
        const rlimit lim{static_cast<rlim_t>(options.file_size_limit), static_cast<rlim_t>(options.file_size_limit)};
        ::setrlimit(RLIMIT_FSIZE, &lim);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
}

pid_t start(const std::vector<std::string>& args, const ChildOptions& options, std::vector<std::string>& storage) {
    storage = {CIRCUITS_BINARY};
    storage.insert(storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : storage) argv.push_back(s.data());
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) exec_child(argv, options);
    return pid;
}

ChildResult result(int status, const rusage& usage, bool killed, Clock::time_point t0) {
    ChildResult r;
    r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    r.killed = killed && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    r.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.max_rss_kb = usage.ru_maxrss;
    return r;
}

ChildResult finish(pid_t pid, bool killed, Clock::time_point t0) {
    int status = 0;
    rusage usage{};
    while (::wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
    }
    return result(status, usage, killed, t0);
}

}  // namespace

ChildResult run_child(const std::vector<std::string>& args, const ChildOptions& options) {
    std::vector<std::string> storage;
    const auto t0 = Clock::now();
    return finish(start(args, options, storage), false, t0);
}

ChildResult kill_child_after(const std::vector<std::string>& args, std::chrono::microseconds delay,
                             const ChildOptions& options) {
    std::vector<std::string> storage;
    const auto t0 = Clock::now();
    const pid_t pid = start(args, options, storage);
    // Poll so that a child that ends early is not waited for the whole delay.
    int status = 0;
    rusage usage{};
    while (Clock::now() - t0 < delay) {
        if (::wait4(pid, &status, WNOHANG, &usage) == pid) return result(status, usage, false, t0);
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    ::kill(pid, SIGKILL);
    return finish(pid, true, t0);
}

}  // namespace circuits::test
