// Sampling of the program task: uniform inputs, targets from the RASP evaluator.
#include "lib/train/program_task.hpp"

#include <set>

#include "lib/error.hpp"
#include "lib/hdf5.hpp"
#include "lib/rasp/analysis.hpp"
#include "lib/rasp/evaluator.hpp"
#include "lib/train/rng.hpp"

namespace circuits::train {

namespace {

// Draws of an input before giving up when the evaluator fails on every one.
constexpr int kMaxDraws = 1000;

}  // namespace

ProgramTask::ProgramTask(const std::string& spec, const std::string& path)
    : ProgramTask(spec, rasp::load_program(path)) {}

ProgramTask::ProgramTask(const std::string& spec, rasp::Program program) : m_program(std::move(program)) {
    m_spec = spec;
    const auto& p = m_program;
    if (p.vocab.empty()) throw Error(p.filename + ": the program has no 'vocab' line (the task draws inputs from it)");
    if (p.max_len < 1)
        throw Error(p.filename + ": the program has no 'max_len' line (the task draws lengths up to it)");
    const auto& out = p.output_node();
    if (out.encoding != rasp::Encoding::categorical)
        throw Error(p.filename + ": the output '" + out.name +
                    "' is numerical; the program task needs a categorical output (one class per value)");
    // The compiler's value set and order for the output (lib/rasp/compiler.cpp: W_U's columns).
    m_values = rasp::analyse(p).sop(p.output).values;
    if (m_values.empty()) throw Error(p.filename + ": the output '" + out.name + "' has no possible value");
    m_vocab.push_back("BOS");
    m_bos = 0;
    for (const auto& v : p.vocab) m_vocab.push_back(v.to_string());
    if (std::set<std::string>(m_vocab.begin(), m_vocab.end()).size() != m_vocab.size())
        throw Error(p.filename + ": the vocabulary, with BOS added, has a repeated token");
    for (const auto& v : m_values) m_vocab_out.push_back(v.to_string());
    m_n_ctx = p.max_len + 1;
    m_causal = p.causal;
    index_outputs();
}

std::vector<int> ProgramTask::targets_of(const std::vector<int>& tokens) const {
    std::vector<rasp::Value> input;
    for (int t : tokens) {
        if (t < 0 || static_cast<size_t>(t) >= m_program.vocab.size())
            throw Error(m_program.filename + ": token index " + std::to_string(t) + " outside the vocabulary of " +
                        std::to_string(m_program.vocab.size()));
        input.push_back(m_program.vocab[static_cast<size_t>(t)]);
    }
    const auto values = rasp::evaluate(m_program, input);
    std::vector<int> out;
    for (size_t i = 0; i < values.size(); ++i) {
        if (values[i].is_none()) {
            out.push_back(-1);
            continue;
        }
        int index = -1;
        for (size_t j = 0; j < m_values.size() && index < 0; ++j)
            if (m_values[j] == values[i]) index = static_cast<int>(j);
        if (index < 0)
            throw Error(m_program.filename + ": the evaluator gives " + values[i].to_string() + " at position " +
                        std::to_string(i) + ", outside the output's value set");
        out.push_back(index);
    }
    return out;
}

Example ProgramTask::sample(Rng& rng) const {
    const int V = static_cast<int>(m_program.vocab.size());
    for (int draw = 0; draw < kMaxDraws; ++draw) {
        const int L = 1 + rng.uniform_int(m_program.max_len);
        std::vector<int> input(static_cast<size_t>(L));
        for (auto& t : input) t = rng.uniform_int(V);
        std::vector<int> targets;
        try {
            targets = targets_of(input);
        } catch (const Error&) {
            continue;  // the evaluator fails on this input: draw another
        }
        Example e;
        e.tokens.push_back(m_bos);
        e.targets.push_back(-1);
        for (size_t i = 0; i < input.size(); ++i) {
            e.tokens.push_back(input[i] + 1);  // vocabulary index: BOS first
            e.targets.push_back(targets[i]);
        }
        return e;
    }
    throw Error(m_program.filename + ": the evaluator failed on " + std::to_string(kMaxDraws) +
                " random inputs in a row");
}

void ProgramTask::write_description(H5Writer& w, const std::string& group) const {
    w.attr(group, "program", m_program.filename);
    w.attr(group, "output_sop", m_program.output_node().name);
    w.attr(group, "max_len", m_program.max_len);
    w.attr(group, "causal", m_program.causal ? 1 : 0);
    w.attr(group, "sampling",
           "BOS + L tokens, L uniform in [1, max_len], each token uniform over the program's vocabulary; target at "
           "each input position = the evaluator's output there (none: not scored; BOS not scored)");
    w.write_string(group + "/source", m_program.source);
}

void ProgramTask::annotate_model(Model& model) const {
    model.program_source = m_program.source;
    model.output_sop = m_program.output_node().name;
}

}  // namespace circuits::train
