// Compiled model vs evaluator, input by input.
#include "lib/rasp/verify.hpp"

#include <cmath>
#include <random>

#include "lib/error.hpp"
#include "lib/forward.hpp"
#include "lib/rasp/analysis.hpp"
#include "lib/rasp/evaluator.hpp"
#include "lib/rasp/readout.hpp"

namespace circuits::rasp {

std::string join_values(const std::vector<Value>& values) {
    std::string s;
    for (size_t i = 0; i < values.size(); ++i) s += (i ? " " : "") + values[i].to_string();
    return s;
}

namespace {

// Compares one batch of inputs; returns the first mismatch.
std::optional<Mismatch> check_batch(const Program& program, const Model& model, const std::vector<Value>& out_values,
                                    const std::vector<std::vector<int>>& batch, int threads, int& evaluator_errors) {
    const auto results = forward_batch(model, batch, threads);
    const bool numerical = model.output_encoding == OutputEncoding::numerical;
    for (size_t b = 0; b < batch.size(); ++b) {
        std::vector<Value> input;
        for (size_t t = 1; t < batch[b].size(); ++t)
            input.push_back(program.vocab[static_cast<size_t>(batch[b][t] - 1)]);
        std::vector<Value> want;
        try {
            want = evaluate(program, input);
        } catch (const Error&) {
            ++evaluator_errors;
            continue;
        }
        const auto got = read_output(model, results[b].logits, 1);
        for (size_t i = 0; i < want.size(); ++i) {
            const OutputReading& r = got[i];
            bool ok;
            if (numerical) {
                ok = want[i].is_none() ||
                     (want[i].is_number() && std::fabs(r.number - want[i].to_double()) <=
                                                 kVerifyAtol + kVerifyRtol * std::fabs(want[i].to_double()));
            } else if (want[i].is_none()) {
                ok = r.none;
            } else {
                ok = !r.none && out_values[static_cast<size_t>(r.index)] == want[i];
            }
            if (!ok) return Mismatch{input, static_cast<int>(i), want[i].to_string(), to_string(model, r)};
        }
    }
    return std::nullopt;
}

}  // namespace

VerifyReport verify(const Program& program, const Model& model, const VerifyOptions& options) {
    if (model.output_encoding == OutputEncoding::none)
        throw Error("verify: the model has no output_encoding (not a compiled model)");
    if (program.vocab.empty() || program.max_len <= 0)
        throw Error("verify: the program needs a vocabulary and max_len");
    if (static_cast<int>(program.vocab.size()) + 1 != model.cfg.d_vocab || model.cfg.n_ctx != program.max_len + 1)
        throw Error("verify: the model was not compiled from this program (vocabulary or max_len differ)");
    std::vector<Value> out_values;
    if (model.output_encoding == OutputEncoding::categorical) {
        out_values = analyse(program).sop(program.output).values;
        if (static_cast<int>(out_values.size()) != model.cfg.d_vocab_out)
            throw Error("verify: the model's output vocabulary differs from the program's output values");
    }
    VerifyReport report;
    const int V = static_cast<int>(program.vocab.size());
    constexpr size_t kBatch = 512;
    std::vector<std::vector<int>> batch;
    const auto flush = [&] {
        if (batch.empty() || report.mismatch) return;
        report.mismatch = check_batch(program, model, out_values, batch, options.threads, report.evaluator_errors);
        batch.clear();
    };
    // Every input of length 1..exhaustive_length, as base-V counters (token ids 1..V after BOS).
    const int max_exhaustive = std::min(options.exhaustive_length, program.max_len);
    for (int len = 1; len <= max_exhaustive && !report.mismatch; ++len) {
        std::vector<int> digits(static_cast<size_t>(len), 0);
        while (true) {
            std::vector<int> seq{0};
            for (int d : digits) seq.push_back(d + 1);
            batch.push_back(std::move(seq));
            ++report.exhaustive;
            if (batch.size() >= kBatch) flush();
            if (report.mismatch) break;
            size_t k = 0;
            while (k < digits.size() && ++digits[k] == V) digits[k++] = 0;
            if (k == digits.size()) break;
        }
    }
    flush();
    std::mt19937_64 rng(options.seed);
    std::uniform_int_distribution<int> length(1, program.max_len), token(1, V);
    for (int i = 0; i < options.random_inputs && !report.mismatch; ++i) {
        std::vector<int> seq{0};
        const int len = length(rng);
        for (int t = 0; t < len; ++t) seq.push_back(token(rng));
        batch.push_back(std::move(seq));
        ++report.random;
        if (batch.size() >= kBatch) flush();
    }
    flush();
    return report;
}

}  // namespace circuits::rasp
