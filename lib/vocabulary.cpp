// Vocabulary lookups, the shared tokens of two vocabularies and the ordinary-token rule.
#include "lib/vocabulary.hpp"

#include <algorithm>
#include <cctype>
#include <utility>

namespace circuits {

bool is_special_token_string(const std::string& s) {
    if (s == "compiler_bos" || s == "compiler_pad") return true;
    if (s.size() >= 3 && s.front() == '<' && s.back() == '>') return true;
    if (s.size() >= 3 && s.front() == '[' && s.back() == ']')
        return std::all_of(s.begin() + 1, s.end() - 1,
                           [](char ch) { return std::isupper(static_cast<unsigned char>(ch)) || ch == '_'; });
    return false;
}

Vocabulary::Vocabulary(std::vector<std::string> tokens) : m_tokens(std::move(tokens)) {
    rebuild_index();
}

void Vocabulary::rebuild_index() {
    m_index.clear();
    m_index.reserve(m_tokens.size());
    for (std::size_t i = 0; i < m_tokens.size(); ++i) m_index.emplace(m_tokens[i], static_cast<int>(i));
}

void Vocabulary::push_back(std::string token) {
    m_index.emplace(token, static_cast<int>(m_tokens.size()));
    m_tokens.push_back(std::move(token));
}

void Vocabulary::set(std::size_t i, std::string token) {
    m_tokens.at(i) = std::move(token);
    rebuild_index();  // the old string may now map to a later index, the new one to an earlier
}

void Vocabulary::clear() {
    m_tokens.clear();
    m_index.clear();
}

void Vocabulary::assign(std::size_t n, const std::string& token) {
    *this = Vocabulary(std::vector<std::string>(n, token));
}

int Vocabulary::index(const std::string& token) const {
    const auto it = m_index.find(token);
    return it == m_index.end() ? -1 : it->second;
}

SharedTokens Vocabulary::shared_with(const Vocabulary& out) const {
    SharedTokens s;
    s.identity = m_tokens == out.m_tokens;
    for (std::size_t t = 0; t < m_tokens.size(); ++t) {
        const int o = s.identity ? static_cast<int>(t) : out.index(m_tokens[t]);
        if (o < 0) continue;
        s.in.push_back(static_cast<int>(t));
        s.out.push_back(o);
    }
    return s;
}

std::vector<int> Vocabulary::index_in(const Vocabulary& out) const {
    std::vector<int> to_out(m_tokens.size(), -1);
    const SharedTokens s = shared_with(out);
    for (int k = 0; k < s.size(); ++k)
        to_out[static_cast<std::size_t>(s.in[static_cast<std::size_t>(k)])] = s.out[static_cast<std::size_t>(k)];
    return to_out;
}

std::vector<int> Vocabulary::ordinary(int bos) const {
    std::vector<int> out;
    for (std::size_t t = 0; t < m_tokens.size(); ++t)
        if (static_cast<int>(t) != bos && !is_special_token_string(m_tokens[t])) out.push_back(static_cast<int>(t));
    return out;
}

}  // namespace circuits
