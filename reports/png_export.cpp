// PNG export: headless Chromium screenshots of PAGE#figure=ID, one process per figure.
#include "reports/png_export.hpp"

#include "lib/error.hpp"

#include <spawn.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fcntl.h>
#include <unistd.h>
#include <filesystem>
#include <sstream>

extern char** environ;

namespace circuits::reports {

namespace fs = std::filesystem;

std::string FigureRef::png_name() const {
    std::string stem = fs::path(page).replace_extension().string() + "-" + id;
    for (char& c : stem)
        if (c == '/' || c == '\\') c = '-';
    return stem + ".png";
}

std::string find_chromium() {
    if (const char* env = std::getenv("CIRCUITS_CHROMIUM"); env && *env) return fs::exists(env) ? env : "";
    const char* path = std::getenv("PATH");
    if (!path) return "";
    std::stringstream dirs(path);
    std::string dir;
    while (std::getline(dirs, dir, ':'))
        for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
            const fs::path p = fs::path(dir.empty() ? "." : dir) / name;
            std::error_code ec;
            if (fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0) return p.string();
        }
    return "";
}

namespace {

// Runs argv with stdout and stderr to /dev/null; returns the exit status (-1 when it could not start).
int run_quiet(const std::vector<std::string>& args) {
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return -1;
    int status = 0;
    if (waitpid(pid, &status, 0) < 0) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

void export_pngs(const std::string& chromium, const std::string& report_dir, const std::vector<FigureRef>& figures,
                 const std::string& png_dir) {
    std::error_code ec;
    fs::create_directories(png_dir, ec);
    if (ec) throw Error(png_dir + ": cannot create the PNG folder: " + ec.message());
    const fs::path profile = fs::path(png_dir) / ".chromium-profile";
    for (const auto& f : figures) {
        const fs::path out = fs::absolute(fs::path(png_dir) / f.png_name());
        const std::string url = "file://" + fs::absolute(fs::path(report_dir) / f.page).string() + "#figure=" + f.id;
        const int rc = run_quiet({chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                                  "--hide-scrollbars", "--user-data-dir=" + fs::absolute(profile).string(),
                                  "--window-size=1100,800", "--virtual-time-budget=3000",
                                  "--screenshot=" + out.string(), url});
        if (rc != 0 || !fs::exists(out) || fs::file_size(out) == 0)
            throw Error(f.page + "#" + f.id + ": " + chromium + " did not write " + out.string() +
                        (rc == -1 ? " (could not run it)" : " (exit status " + std::to_string(rc) + ")"));
    }
    fs::remove_all(profile, ec);
}

}  // namespace circuits::reports
