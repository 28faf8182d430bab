// Vocabulary: a model's token strings with a hash lookup, the tokens it shares with another
// vocabulary, and the one definition of which tokens are ordinary.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <string>
#include <unordered_map>
#include <vector>

namespace circuits {

// The tokens two vocabularies share, matched by string: pairs (input index, output index) in input
// order. `identity` when the vocabularies are equal (every token matched to itself). Copying scores
// are computed on this square sub-circuit, so a model whose output vocabulary leaves out BOS (a
// compiled RASP program, a model trained here) still has them.
struct SharedTokens {
    std::vector<int> in;   // input token indices
    std::vector<int> out;  // output token indices, same length
    bool identity = false;
    int size() const { return static_cast<int>(in.size()); }
};

// Whether a token string is a special token by its form: "<...>" (<pad>, <|endoftext|>), "[...]" in
// capitals and underscores ([CLS], [MASK]), or the compiler's compiler_bos / compiler_pad.
bool is_special_token_string(const std::string& s);

// Token strings in index order, read like a std::vector<std::string> (a Model's vocab and vocab_out
// are Vocabularies, so existing callers keep their vector idioms), with an index kept in step by
// every mutation: index() is a hash lookup. A repeated string maps to its first index.
class Vocabulary {
public:
    using const_iterator = std::vector<std::string>::const_iterator;

    Vocabulary() = default;
    // Implicit on purpose: readers, tasks and tests assign string lists to a Model's vocabularies.
    Vocabulary(std::vector<std::string> tokens);  // NOLINT(google-explicit-constructor)
    Vocabulary(std::initializer_list<std::string> tokens) : Vocabulary(std::vector<std::string>(tokens)) {}
    template <typename It>
    Vocabulary(It first, It last) : Vocabulary(std::vector<std::string>(first, last)) {}

    std::size_t size() const { return m_tokens.size(); }
    bool empty() const { return m_tokens.empty(); }
    const std::string& operator[](std::size_t i) const { return m_tokens[i]; }
    const std::string& at(std::size_t i) const { return m_tokens.at(i); }
    const std::string& front() const { return m_tokens.front(); }
    const std::string& back() const { return m_tokens.back(); }
    const_iterator begin() const { return m_tokens.begin(); }
    const_iterator end() const { return m_tokens.end(); }
    const std::vector<std::string>& tokens() const { return m_tokens; }
    operator const std::vector<std::string>&() const { return m_tokens; }  // NOLINT(google-explicit-constructor)

    void push_back(std::string token);
    void set(std::size_t i, std::string token);
    void clear();
    void assign(std::size_t n, const std::string& token);
    template <typename It>
    void assign(It first, It last) {
        *this = Vocabulary(first, last);
    }

    // The index of `token`, or -1.
    int index(const std::string& token) const;
    bool contains(const std::string& token) const { return index(token) >= 0; }

    // The tokens of this (input) vocabulary that `out` also holds, matched by string.
    SharedTokens shared_with(const Vocabulary& out) const;
    // For every token of this vocabulary, the index of the same string in `out`, or -1.
    std::vector<int> index_in(const Vocabulary& out) const;

    // The ordinary tokens, in index order: every token except `bos` (an index, or -1) and the special
    // tokens (is_special_token_string). The one rule for what a probe may draw from: the analysis
    // passes' repeated-sequence probe, the report's attention probe, the training dynamics and the
    // compare probe all use it.
    std::vector<int> ordinary(int bos) const;

    friend bool operator==(const Vocabulary& a, const Vocabulary& b) { return a.m_tokens == b.m_tokens; }

private:
    std::vector<std::string> m_tokens;
    std::unordered_map<std::string, int> m_index;  // string -> first index holding it

    void rebuild_index();
};

}  // namespace circuits
