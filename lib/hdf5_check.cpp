// check_hdf5_file: the whole file read once in a forked child, with HDF5's C API.
#include "lib/hdf5_check.hpp"

#include "lib/error.hpp"
#include "lib/hdf5.hpp"

#include <H5Cpp.h>

#include <fcntl.h>
#include <signal.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

// Present only in a sanitizer build: the child clears the death callback libFuzzer installs, so
// that a fault in the child is not written out as a finding of the fuzzer that runs the parent.
extern "C" __attribute__((weak)) void __sanitizer_set_death_callback(void (*callback)(void));

namespace circuits {

namespace {

constexpr std::uint64_t kBlockBytes = std::uint64_t{16} << 20;   // one read of a large dataset
constexpr std::uint64_t kDatasetBytes = std::uint64_t{4} << 30;  // larger datasets are not read
constexpr std::uint64_t kAttributeBytes = std::uint64_t{64} << 20;
constexpr int kReadError = 3;  // the child's exit status: HDF5 could not read an object

// What the child is walking: the first object HDF5 could not read.
struct Walk {
    std::string failed;
    double file_bytes = 0;
};


// HDF5's memory type for a file type: its native counterpart, or the type itself when HDF5 has none
// (then the bytes are copied as stored).
hid_t memory_type(hid_t file_type) {
    const hid_t native = H5Tget_native_type(file_type, H5T_DIR_ASCEND);
    return native >= 0 ? native : H5Tcopy(file_type);
}

bool has_variable_length(hid_t type) {
    return H5Tdetect_class(type, H5T_VLEN) > 0 || H5Tis_variable_str(type) > 0;
}

// Reads attribute `attr` in full; false when HDF5 reported an error.
bool read_attribute(hid_t attr) {
    const hid_t file_type = H5Aget_type(attr);
    const hid_t space = H5Aget_space(attr);
    bool ok = file_type >= 0 && space >= 0;
    if (ok) {
        const hid_t mem = memory_type(file_type);
        const hssize_t n = H5Sget_simple_extent_npoints(space);
        const size_t size = mem >= 0 ? H5Tget_size(mem) : 0;
        ok = mem >= 0 && n >= 0 && size > 0;
        if (ok && static_cast<std::uint64_t>(n) <= kAttributeBytes / size) {
            std::vector<unsigned char> buf(static_cast<size_t>(n) * size + 1);
            ok = H5Aread(attr, mem, buf.data()) >= 0;
            if (ok && has_variable_length(mem)) H5Dvlen_reclaim(mem, space, H5P_DEFAULT, buf.data());
        }
        if (mem >= 0) H5Tclose(mem);
    }
    if (space >= 0) H5Sclose(space);
    if (file_type >= 0) H5Tclose(file_type);
    return ok;
}

// Reads dataset `set` in full, a block of leading rows at a time; false when HDF5 reported an error.
bool read_dataset(hid_t set, double file_bytes) {
    const hid_t file_type = H5Dget_type(set);
    const hid_t space = H5Dget_space(set);
    bool ok = file_type >= 0 && space >= 0;
    hid_t mem = -1;
    if (ok) {
        mem = memory_type(file_type);
        ok = mem >= 0;
    }
    const int rank = ok ? H5Sget_simple_extent_ndims(space) : -1;
    ok = ok && rank >= 0;
    std::vector<hsize_t> dims(static_cast<size_t>(std::max(rank, 1)), 1);
    if (ok && rank > 0) ok = H5Sget_simple_extent_dims(space, dims.data(), nullptr) >= 0;
    const size_t size = ok ? H5Tget_size(mem) : 0;
    ok = ok && size > 0;
    // Bytes per leading row, saturating: a corrupt extent is refused by the real reader's limits.
    std::uint64_t row = size, total = 0;
    const auto times = [](std::uint64_t a, hsize_t b) { return b && a > kDatasetBytes / b ? kDatasetBytes + 1 : a * b; };
    for (int d = 1; ok && d < rank; ++d) row = times(row, dims[static_cast<size_t>(d)]);
    if (ok) total = rank == 0 ? size : times(row, dims[0]);
    const double stored = std::min(static_cast<double>(ok ? H5Dget_storage_size(set) : 0), file_bytes);
    // H5Reader refuses such a dataset before reading it; reading gigabytes of fill values here would
    // only run into the time limit.
    const bool claimed_too_much = claims_more_than_stored(static_cast<double>(total), stored);
    if (ok && total > 0 && total <= kDatasetBytes && !claimed_too_much) {
        const hsize_t rows = rank == 0 ? 1 : dims[0];
        const hsize_t per_block = std::max<hsize_t>(1, static_cast<hsize_t>(kBlockBytes / std::max<std::uint64_t>(row, 1)));
        std::vector<unsigned char> buf(static_cast<size_t>(std::min<std::uint64_t>(total, per_block * row)) + 1);
        const bool vlen = has_variable_length(mem);
        for (hsize_t first = 0; ok && first < rows; first += per_block) {
            if (rank == 0) {
                ok = H5Dread(set, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) >= 0;
                if (ok && vlen) H5Dvlen_reclaim(mem, space, H5P_DEFAULT, buf.data());
                break;
            }
            std::vector<hsize_t> start(static_cast<size_t>(rank), 0), count = dims;
            start[0] = first;
            count[0] = std::min(per_block, rows - first);
            const hid_t file_space = H5Scopy(space);
            const hid_t mem_space = H5Screate_simple(rank, count.data(), nullptr);
            ok = file_space >= 0 && mem_space >= 0 &&
                 H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr) >= 0 &&
                 H5Dread(set, mem, mem_space, file_space, H5P_DEFAULT, buf.data()) >= 0;
            if (ok && vlen) H5Dvlen_reclaim(mem, mem_space, H5P_DEFAULT, buf.data());
            if (mem_space >= 0) H5Sclose(mem_space);
            if (file_space >= 0) H5Sclose(file_space);
        }
    }
    if (mem >= 0) H5Tclose(mem);
    if (space >= 0) H5Sclose(space);
    if (file_type >= 0) H5Tclose(file_type);
    return ok;
}

// Every attribute of the open object `obj`; false at the first that cannot be read.
bool read_attributes(hid_t obj, const std::string& name, Walk& walk) {
    H5O_info_t info;
    if (H5Oget_info2(obj, &info, H5O_INFO_NUM_ATTRS) < 0) {
        walk.failed = name;
        return false;
    }
    for (hsize_t i = 0; i < info.num_attrs; ++i) {
        const hid_t attr = H5Aopen_by_idx(obj, ".", H5_INDEX_NAME, H5_ITER_INC, i, H5P_DEFAULT, H5P_DEFAULT);
        const bool read = attr >= 0 && read_attribute(attr);
        const bool closed = attr < 0 || H5Aclose(attr) >= 0;
        if (!read || !closed) {
            walk.failed = name + " (attribute " + std::to_string(i) + ")";
            return false;
        }
    }
    return true;
}

herr_t visit(hid_t file, const char* name, const H5O_info_t* info, void* data) {
    Walk& walk = *static_cast<Walk*>(data);
    const std::string where = std::strcmp(name, ".") == 0 ? "/" : "/" + std::string(name);
    const hid_t obj = H5Oopen(file, name, H5P_DEFAULT);
    bool ok = obj >= 0 && read_attributes(obj, where, walk);
    if (ok && info->type == H5O_TYPE_DATASET && !read_dataset(obj, walk.file_bytes)) {
        walk.failed = where;
        ok = false;
    }
    if (obj >= 0) H5Oclose(obj);
    if (!ok && walk.failed.empty()) walk.failed = where;
    return ok ? 0 : -1;
}

// The worker: reads everything, tells its parent through `fd` what it could not read, and exits.
[[noreturn]] void worker(const std::string& path, int fd, long limit_ms) {
    if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(nullptr);
    for (const int s : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGALRM, SIGPIPE}) signal(s, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    const int null = open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, STDERR_FILENO);
    itimerval timer{};
    timer.it_value.tv_sec = limit_ms / 1000;
    timer.it_value.tv_usec = (limit_ms % 1000) * 1000;
    setitimer(ITIMER_REAL, &timer, nullptr);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);

    const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) _exit(0);  // the caller's own open says why
    Walk walk;
    hsize_t file_bytes = 0;
    if (H5Fget_filesize(file, &file_bytes) >= 0) walk.file_bytes = static_cast<double>(file_bytes);
    const herr_t r = H5Ovisit2(file, H5_INDEX_NAME, H5_ITER_NATIVE, visit, &walk, H5O_INFO_BASIC);
    if (r < 0 && walk.failed.empty()) walk.failed = "/";
    if (!walk.failed.empty()) {
        const ssize_t written = write(fd, walk.failed.data(), walk.failed.size());
        (void)written;
        _exit(kReadError);
    }
    _exit(H5Fclose(file) < 0 ? kReadError : 0);
}

// CIRCUITS_HDF5_CHECK=0: no check (and no zygote).
bool check_disabled() {
    const char* v = std::getenv("CIRCUITS_HDF5_CHECK");
    return v && std::string(v) == "0";
}

// What a worker reported: its wait status (-1: it could not be started) and what it could not read.
struct Outcome {
    int status = -1;
    std::string failed;
};

// Forks a worker for `path` and waits for it.
Outcome run_worker(const std::string& path, long limit_ms) {
    Outcome out;
    int fds[2];
    if (pipe(fds) != 0) return out;
    const pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return out;
    }
    if (pid == 0) {
        close(fds[0]);
        worker(path, fds[1], limit_ms);
    }
    close(fds[1]);
    char buf[512];
    for (;;) {
        const ssize_t n = read(fds[0], buf, sizeof buf);
        if (n > 0) out.failed.append(buf, static_cast<size_t>(n));
        else if (n == 0 || errno != EINTR) break;
    }
    close(fds[0]);
    int status = 0;
    pid_t waited;
    while ((waited = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
    }
    if (waited == pid) out.status = status;
    return out;
}

bool write_all(int fd, const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
        const ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= static_cast<size_t>(w);
    }
    return true;
}

bool read_all(int fd, void* data, size_t n) {
    char* p = static_cast<char*>(data);
    while (n > 0) {
        const ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return false;
        p += r;
        n -= static_cast<size_t>(r);
    }
    return true;
}

// The zygote: a process forked while this one is starting (before main, so before any thread),
// which forks the workers. A worker forked straight from a process with other threads could find
// a lock of the allocator held for ever (AddressSanitizer's is not released across fork: the
// analyze command's hashing thread made a worker hang); one forked from the single-threaded zygote
// cannot. It serves one request at a time over a socket and exits when this process closes it.
// Request: path length (u32), path, time limit in ms (i64). Reply: wait status (i32), length of
// the object the worker could not read (u32), that object's name.
[[noreturn]] void zygote_loop(int fd) {
    for (;;) {
        std::uint32_t n = 0;
        std::int64_t limit_ms = 0;
        if (!read_all(fd, &n, sizeof n) || n > (1u << 20)) _exit(0);
        std::string path(n, '\0');
        if (!read_all(fd, path.data(), n) || !read_all(fd, &limit_ms, sizeof limit_ms)) _exit(0);
        const Outcome o = run_worker(path, static_cast<long>(limit_ms));
        const std::int32_t status = o.status;
        const auto len = static_cast<std::uint32_t>(o.failed.size());
        if (!write_all(fd, &status, sizeof status) || !write_all(fd, &len, sizeof len) ||
            !write_all(fd, o.failed.data(), len))
            _exit(0);
    }
}

struct Zygote {
    bool started = false;  // false also before this object's dynamic initialisation
    int fd = -1;
    pid_t pid = -1;

    Zygote() {
        if (check_disabled()) return;
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return;
        const pid_t child = fork();
        if (child < 0) {
            close(sv[0]);
            close(sv[1]);
            return;
        }
        if (child == 0) {
            close(sv[0]);
            const int null = open("/dev/null", O_RDWR);
            if (null >= 0)
                for (const int std_fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) dup2(null, std_fd);
            signal(SIGPIPE, SIG_IGN);
            zygote_loop(sv[1]);
        }
        close(sv[1]);
        fd = sv[0];
        pid = child;
        started = true;
    }
    ~Zygote() { stop(); }
    Zygote(const Zygote&) = delete;
    Zygote& operator=(const Zygote&) = delete;

    void stop() {
        if (!started) return;
        started = false;
        close(fd);
        if (getpid() != pid) waitpid(pid, nullptr, 0);
    }

    // The worker's outcome, or nullopt when the zygote is gone (then it is not asked again).
    std::optional<Outcome> ask(const std::string& path, long limit_ms) {
        if (!started) return std::nullopt;
        const auto n = static_cast<std::uint32_t>(path.size());
        const std::int64_t limit = limit_ms;
        Outcome o;
        std::uint32_t len = 0;
        pollfd p{fd, POLLIN, 0};
        // The worker's own timer ends it at limit_ms; the wait here is a backstop.
        const bool ok = write_all(fd, &n, sizeof n) && write_all(fd, path.data(), n) &&
                        write_all(fd, &limit, sizeof limit) &&
                        poll(&p, 1, static_cast<int>(std::min<long>(limit_ms + 10000, 1L << 30))) == 1 &&
                        read_all(fd, &o.status, sizeof o.status) && read_all(fd, &len, sizeof len) &&
                        len <= (1u << 20);
        if (ok) o.failed.resize(len);
        if (!ok || !read_all(fd, o.failed.data(), len)) {
            stop();
            return std::nullopt;
        }
        return o;
    }
};

Zygote g_zygote;

long time_limit_ms(std::uint64_t file_size) {
    if (const char* v = std::getenv("CIRCUITS_HDF5_CHECK_MS")) {
        char* end = nullptr;
        const long ms = std::strtol(v, &end, 10);
        if (end != v && *end == '\0' && ms > 0) return ms;
    }
    return 20000 + static_cast<long>(file_size / (std::uint64_t{16} << 20)) * 1000;
}

using FileKey = std::tuple<dev_t, ino_t, off_t, std::int64_t, long>;

}  // namespace

void check_hdf5_file(const std::string& path) {
    if (check_disabled()) return;
    struct stat st {};
    if (stat(path.c_str(), &st) != 0) return;  // the caller's open reports a missing file
    static std::mutex mutex;
    static std::set<FileKey> passed;
    const FileKey key{st.st_dev, st.st_ino, st.st_size, static_cast<std::int64_t>(st.st_mtim.tv_sec), st.st_mtim.tv_nsec};
    std::lock_guard<std::mutex> lock(mutex);
    if (passed.count(key)) return;

    const long limit_ms = time_limit_ms(static_cast<std::uint64_t>(st.st_size));
    std::error_code ec;
    const std::string absolute = std::filesystem::absolute(path, ec).string();
    std::optional<Outcome> asked = g_zygote.ask(ec ? path : absolute, limit_ms);
    // Without the zygote (CIRCUITS_HDF5_CHECK=0 at start-up, or it was killed), the worker is
    // forked from here.
    const Outcome o = asked ? *asked : run_worker(path, limit_ms);
    const int status = o.status;
    if (status == -1) throw Error(path + ": cannot check the HDF5 file: cannot start a process: " + std::strerror(errno));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        passed.insert(key);
        return;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == kReadError)
        throw Error(path + ": " + (o.failed.empty() ? std::string("/") : o.failed) +
                    ": corrupt HDF5 file: the HDF5 library cannot read this object");
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
        throw Error(path + ": corrupt HDF5 file: the HDF5 library did not finish reading it within " +
                    std::to_string(limit_ms) + " ms (CIRCUITS_HDF5_CHECK_MS sets the limit)");
    const std::string how = WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status)) + " (" +
                                                      strsignal(WTERMSIG(status)) + ")"
                                                : "exit status " + std::to_string(WEXITSTATUS(status));
    throw Error(path + ": corrupt HDF5 file: the HDF5 library crashed reading it (" + how +
                ", in a child process that read the file first)");
}

}  // namespace circuits
