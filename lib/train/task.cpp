// The task factory and the defaults shared by tasks.
#include "lib/train/task.hpp"

#include "lib/error.hpp"
#include "lib/vocabulary.hpp"
#include "lib/train/bigram_task.hpp"
#include "lib/train/induction_task.hpp"
#include "lib/train/program_task.hpp"
#include "lib/train/scan_snap_task.hpp"

namespace circuits::train {

std::vector<int> Task::ordinary_tokens() const {
    return Vocabulary(m_vocab).ordinary(m_bos);
}

void Task::index_outputs() {
    m_output_index.assign(m_vocab.size(), -1);
    for (size_t i = 0; i < m_vocab.size(); ++i)
        for (size_t j = 0; j < m_vocab_out.size(); ++j)
            if (m_vocab[i] == m_vocab_out[j]) m_output_index[i] = static_cast<int>(j);
}

int Task::output_index(int token) const {
    if (token < 0 || static_cast<size_t>(token) >= m_output_index.size()) return -1;
    return m_output_index[static_cast<size_t>(token)];
}

std::unique_ptr<Task> make_task(const std::string& spec, const TaskOptions& options, std::uint64_t seed) {
    if (spec == "induction") return std::make_unique<InductionTask>(spec, options);
    if (spec == "bigram") return std::make_unique<BigramTask>(spec, options, seed);
    if (spec == "scan-snap") return std::make_unique<ScanSnapTask>(spec, options);
    if (spec.rfind("program:", 0) == 0) {
        const std::string path = spec.substr(8);
        if (path.empty()) throw UsageError("task 'program:' needs a file: program:FILE.rasp");
        return std::make_unique<ProgramTask>(spec, path);
    }
    throw UsageError("unknown task '" + spec + "' (expected induction, bigram, scan-snap or program:FILE.rasp)");
}

}  // namespace circuits::train
