// Typed access to a TransformerLens config.json: every error names the file and the key.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "lib/error.hpp"

namespace circuits {

// A key that is absent or null reads as its default (TransformerLens's to_dict() writes null for
// unset options).
class ConfigJson {
public:
    explicit ConfigJson(std::string path) : m_path(std::move(path)) {
        std::error_code ec;
        if (!std::filesystem::exists(m_path, ec))
            throw Error(m_path + ": no such file (a .safetensors model needs its TransformerLens config.json)");
        std::ifstream in(m_path);
        if (!in) throw Error(m_path + ": cannot open file");
        try {
            m_json = nlohmann::json::parse(in);
        } catch (const nlohmann::json::exception& e) {
            throw Error(m_path + ": not valid JSON: " + e.what());
        }
        if (!m_json.is_object()) throw Error(m_path + ": not a JSON object");
    }

    const std::string& path() const { return m_path; }
    bool has(const char* key) const { return m_json.contains(key) && !m_json[key].is_null(); }
    bool contains(const char* key) const { return m_json.contains(key); }

    [[noreturn]] void fail(const char* key, const std::string& message) const {
        throw Error(m_path + ": '" + key + "' " + message);
    }

    int integer(const char* key) const {
        if (!has(key)) throw Error(m_path + ": missing key '" + key + "'");
        const auto& v = m_json[key];
        double d = 0;
        if (v.is_number_integer())
            d = static_cast<double>(v.get<std::int64_t>());
        else if (v.is_number_float())
            d = v.get<double>();
        else
            fail(key, "should be an integer, got " + v.dump());
        if (d != std::floor(d) || d < -1 || d > std::numeric_limits<int>::max())
            fail(key, "should be an integer in range, got " + v.dump());
        return static_cast<int>(d);
    }
    int integer_or(const char* key, int fallback) const { return has(key) ? integer(key) : fallback; }

    double number_or(const char* key, double fallback) const {
        if (!has(key)) return fallback;
        const auto& v = m_json[key];
        if (!v.is_number()) fail(key, "should be a number, got " + v.dump());
        return v.get<double>();
    }

    bool boolean_or(const char* key, bool fallback) const {
        if (!has(key)) return fallback;
        const auto& v = m_json[key];
        if (!v.is_boolean()) fail(key, "should be true or false, got " + v.dump());
        return v.get<bool>();
    }

    std::string string_or(const char* key, const std::string& fallback) const {
        if (!has(key)) return fallback;
        const auto& v = m_json[key];
        if (!v.is_string()) fail(key, "should be a string, got " + v.dump());
        return v.get<std::string>();
    }

    std::vector<std::string> strings(const char* key) const {
        const auto& v = m_json[key];
        if (!v.is_array()) fail(key, "should be a list of strings");
        std::vector<std::string> out;
        for (const auto& s : v) {
            if (!s.is_string()) fail(key, "should be a list of strings, found " + s.dump());
            out.push_back(s.get<std::string>());
        }
        return out;
    }

    const nlohmann::json& raw(const char* key) const { return m_json[key]; }

    // d_vocab = -1 means "from the tokenizer": the rows of embed.W_E in the tensor file then say
    // how many tokens there are. The reader of that file records them here.
    void set_embedding_rows(std::string tensor_path, std::optional<std::int64_t> rows) {
        m_tensor_path = std::move(tensor_path);
        m_embedding_rows = rows;
    }
    int embedding_rows() const {
        if (!m_embedding_rows)
            throw Error(m_path + ": 'd_vocab' is not set and " + m_tensor_path +
                        " has no 2-D embed.W_E to infer it from");
        return static_cast<int>(std::min<std::int64_t>(*m_embedding_rows, std::numeric_limits<int>::max()));
    }

private:
    std::string m_path;
    nlohmann::json m_json;
    std::string m_tensor_path;
    std::optional<std::int64_t> m_embedding_rows;
};

}  // namespace circuits
