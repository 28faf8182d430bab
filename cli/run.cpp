// `circuits run MODEL INPUT...`: the forward pass, predictions decoded through vocab_out.
#include "cli/commands.hpp"

#include "lib/error.hpp"
#include "lib/forward.hpp"
#include "lib/model_io.hpp"
#include "lib/rasp/readout.hpp"

#include <nlohmann/json.hpp>

#include <iomanip>
#include <ostream>

namespace circuits::cli {

namespace po = boost::program_options;

namespace {

int run_run(const po::variables_map& vm, std::ostream& out, std::ostream&) {
    const auto path = vm["model"].as<std::string>();
    const auto inputs = vm.count("input") ? vm["input"].as<std::vector<std::string>>() : std::vector<std::string>{};
    if (inputs.empty()) throw UsageError("no input tokens given (see 'circuits run --help')");
    if (vm.count("logits") && !vm.count("json")) throw UsageError("--logits needs --json (see 'circuits run --help')");
    const Model m = load_model(path);

    std::vector<int> tokens;
    const bool bos = m.cfg.bos_token >= 0;
    if (bos) tokens.push_back(m.cfg.bos_token);
    for (const auto& s : inputs) {
        const int t = m.token_index(s);
        if (t < 0) throw Error(path + ": token '" + s + "' is not in the model's vocabulary");
        tokens.push_back(t);
    }
    if (static_cast<int>(tokens.size()) > m.cfg.n_ctx)
        throw Error(path + ": " + std::to_string(tokens.size()) + " tokens (BOS included) exceed n_ctx = " +
                    std::to_string(m.cfg.n_ctx));
    const ForwardResult r = forward(m, tokens);

    const size_t first = bos ? 1 : 0;
    std::vector<std::string> predictions;
    nlohmann::json json_predictions = nlohmann::json::array();
    if (m.output_encoding != OutputEncoding::none) {
        // A compiled model: its output s-op, none where it has no value, numbers as numbers.
        for (const auto& reading : rasp::read_output(m, r.logits, static_cast<int>(first))) {
            predictions.push_back(rasp::to_string(m, reading));
            if (reading.none) json_predictions.push_back(nullptr);
            else if (m.output_encoding == OutputEncoding::numerical)
                json_predictions.push_back(static_cast<float>(reading.number));
            else json_predictions.push_back(predictions.back());
        }
    } else {
        for (size_t t = first; t < tokens.size(); ++t) {
            Eigen::Index best = 0;
            r.logits.row(static_cast<Eigen::Index>(t)).maxCoeff(&best);
            predictions.push_back(m.vocab_out[static_cast<size_t>(best)]);
            json_predictions.push_back(predictions.back());
        }
    }
    const bool attention = vm.count("attention") > 0;
    if (vm.count("json")) {
        nlohmann::json j;
        j["input"] = inputs;
        j["predictions"] = json_predictions;
        if (vm.count("logits")) {
            std::vector<std::vector<float>> rows;  // [printed positions, d_vocab_out]
            for (size_t t = first; t < tokens.size(); ++t) {
                const RowVector row = r.logits.row(static_cast<Eigen::Index>(t));  // a copy: rows are strided
                rows.emplace_back(row.data(), row.data() + row.size());
            }
            j["logits"] = rows;
        }
        if (attention) {
            std::vector<std::string> labels;
            for (int t : tokens) labels.push_back(m.vocab[static_cast<size_t>(t)]);
            j["attention_tokens"] = labels;
            for (int l = 0; l < m.cfg.n_layers; ++l)
                for (int h = 0; h < m.cfg.n_heads; ++h) {
                    const Matrix& p = r.patterns[static_cast<size_t>(l)][static_cast<size_t>(h)];
                    std::vector<std::vector<float>> rows;
                    for (Eigen::Index i = 0; i < p.rows(); ++i) {
                        rows.emplace_back();
                        for (Eigen::Index k = 0; k < p.cols(); ++k) rows.back().push_back(p(i, k));
                    }
                    j["attention"]["L" + std::to_string(l) + "H" + std::to_string(h)] = rows;
                }
        }
        out << j.dump() << "\n";
        return 0;
    }
    for (size_t i = 0; i < predictions.size(); ++i) out << (i ? " " : "") << predictions[i];
    out << "\n";
    if (attention) {
        std::vector<std::string> labels;
        for (int t : tokens) labels.push_back(m.vocab[static_cast<size_t>(t)]);
        for (int l = 0; l < m.cfg.n_layers; ++l)
            for (int h = 0; h < m.cfg.n_heads; ++h) {
                const Matrix& p = r.patterns[static_cast<size_t>(l)][static_cast<size_t>(h)];
                out << "\nL" << l << "H" << h << " attention (rows: query, columns: key)\n" << std::setw(8) << "";
                for (const auto& s : labels) out << std::setw(7) << s.substr(0, 6);
                out << "\n";
                for (Eigen::Index i = 0; i < p.rows(); ++i) {
                    out << std::setw(8) << labels[static_cast<size_t>(i)].substr(0, 7);
                    for (Eigen::Index k = 0; k < p.cols(); ++k) out << std::setw(7) << std::fixed << std::setprecision(3) << p(i, k);
                    out << "\n";
                }
                out.unsetf(std::ios::fixed);
            }
    }
    return 0;
}

}  // namespace

Command run_command() {
    return {"run",
            "run the forward pass and print each position's prediction",
            "circuits run MODEL INPUT... [--attention] [--json [--logits]]",
            "Tokens are given by their strings. The model's BOS token is prepended when it has one and\n"
            "left out of what is printed. Prints the predicted next token at each input position,\n"
            "decoded through vocab_out, on one line; for a compiled model, the value of its output\n"
            "s-op ('none' where it has none, a numerical output as the shortest exact decimal of its\n"
            "logit). --attention adds every head's attention pattern, --json prints a JSON object\n"
            "(with --logits, each printed position's logits too).",
            "circuits run data/models/planted-2l.h5 a b c d a b c d --attention",
            [](po::options_description& opts, po::positional_options_description& pos) {
                opts.add_options()("model", po::value<std::string>()->required(), "model file")(
                    "input", po::value<std::vector<std::string>>()->multitoken(), "input tokens")(
                    "attention", "print each head's attention pattern")("json", "print JSON")(
                    "logits", "with --json: add each printed position's logits");
                pos.add("model", 1).add("input", -1);
            },
            run_run};
}

}  // namespace circuits::cli
