// A training task: vocabularies, context length and a sampler of sequences with per-position targets.
#pragma once

#include "lib/train/backprop.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace circuits {
class H5Writer;
}

namespace circuits::train {

class Rng;

// Options of every task; each task documents the fields it reads and ignores the others.
struct TaskOptions {
    std::vector<std::string> vocab;  // induction, bigram: the ordinary tokens (empty = the task's default)
    std::string bos = "BOS";         // induction: BOS token, vocabulary index 0 ("" = no BOS)
    int max_len = 0;                 // tokens per sequence, BOS not counted (0 = the task's default)
    int vocab_size = 16;             // bigram: number of tokens when `vocab` is empty
    double bigram_logit_std = 2.0;   // bigram: std of the transition logits (larger = more peaked rows)
    int classes = 4;                 // scan-snap: sequence classes (= next tokens)
    int distinct = 4;                // scan-snap: distinct tokens per class
    int common = 4;                  // scan-snap: common tokens shared by all classes
    double common_prob = 0.5;        // scan-snap: probability that a context token is common
};

class Task {
public:
    virtual ~Task() = default;

    virtual std::string name() const = 0;         // "induction", "bigram", "scan-snap", "program"
    const std::string& spec() const { return m_spec; }  // as given, e.g. "program:reverse.rasp"
    const std::vector<std::string>& vocab() const { return m_vocab; }          // [d_vocab]
    const std::vector<std::string>& vocab_out() const { return m_vocab_out; }  // [d_vocab_out]
    int bos_token() const { return m_bos; }  // vocabulary index, or -1
    int n_ctx() const { return m_n_ctx; }    // longest sequence, BOS included
    bool causal() const { return m_causal; }

    // One training sequence drawn from `rng`.
    virtual Example sample(Rng& rng) const = 0;

    // The vocab_out index of vocabulary token `token` (same string), or -1 when it cannot be output.
    int output_index(int token) const;

    // The ordinary tokens of the vocabulary (Vocabulary::ordinary: every token but BOS and special
    // strings), the one rule every probe draws by.
    std::vector<int> ordinary_tokens() const;
    // Whether the task is next-token prediction (the target of a position is the next token's
    // output_index), so the loss on the second copy of a repeated sequence is meaningful (logged as
    // repeat_loss).
    virtual bool next_token_task() const { return false; }
    // Per vocabulary token: 1 distinct, 2 common, 0 neither; empty when the task has no such classes.
    virtual std::vector<int> token_kinds() const { return {}; }
    // The query (last) token whose QK-circuit row is logged, or -1.
    virtual int query_token() const { return -1; }

    // Writes the task's description (its options as attributes, its random structure as datasets)
    // into `group` of an open file.
    virtual void write_description(H5Writer& w, const std::string& group) const = 0;
    // Adds what the task says about the trained model's meaning to it (program: the source and the
    // output s-op, stored as compiled models store them, so `circuits compare` finds the program).
    virtual void annotate_model(Model&) const {}

protected:
    // Call at the end of a constructor, once the vocabularies are set.
    void index_outputs();

    std::string m_spec;
    std::vector<std::string> m_vocab, m_vocab_out;
    int m_bos = -1;
    int m_n_ctx = 0;
    bool m_causal = true;
    std::vector<int> m_output_index;  // [d_vocab] -> vocab_out index or -1
};

// The task named by `spec`: induction, bigram, scan-snap or program:FILE.rasp. Random structure
// (the bigram chain) is drawn from `seed`. Throws UsageError for an unknown task or bad options,
// Error naming the file for a program that cannot be read or has a numerical output.
std::unique_ptr<Task> make_task(const std::string& spec, const TaskOptions& options, std::uint64_t seed);

}  // namespace circuits::train
