// The fuzz targets' scratch files: one folder per process under $TMPDIR.
#include "tests/fuzz/targets/scratch.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace circuits::fuzz {

namespace {

struct ScratchFolder {
    std::string path;
    ScratchFolder() {
        path = (std::filesystem::temp_directory_path() / ("circuits-fuzz-" + std::to_string(::getpid()))).string();
        std::filesystem::create_directories(path);
    }
    ~ScratchFolder() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

}  // namespace

const std::string& scratch_dir() {
    static const ScratchFolder folder;
    return folder.path;
}

std::string scratch_file(const std::string& name, const std::uint8_t* data, std::size_t size) {
    const std::string path = scratch_dir() + "/" + name;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    out.close();
    if (!out) throw std::runtime_error(path + ": cannot write the fuzz input");  // not a rejection
    return path;
}

std::string read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(path + ": cannot open file");
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) throw Error(path + ": cannot write file");
}

}  // namespace circuits::fuzz
