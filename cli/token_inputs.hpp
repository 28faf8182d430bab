// The attention viewer's inputs from a --tokens file, shared by `circuits report` and `circuits analyze --report`.
#pragma once

#include "analyses/path_expansion.hpp"
#include "lib/model.hpp"
#include "reports/report.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace circuits::cli {

// The sequences of a --tokens file (token strings of the model's vocabulary separated by white
// space, one sequence per line, BOS prepended: analyses::read_token_file), named "FILE sequence k".
inline std::vector<reports::TokenInput> token_inputs(const Model& model, const std::string& path) {
    std::vector<reports::TokenInput> out;
    const std::string base = std::filesystem::path(path).filename().string();
    for (auto& seq : analyses::read_token_file(model, path))
        out.push_back({base + " sequence " + std::to_string(out.size() + 1), std::move(seq)});
    return out;
}

}  // namespace circuits::cli
