// `circuits run MODEL INPUT...`: the forward pass, predictions decoded through vocab_out.
#include <iomanip>
#include <nlohmann/json.hpp>
#include <ostream>

#include "cli/commands.hpp"
#include "lib/error.hpp"
#include "lib/forward.hpp"
#include "lib/model_io.hpp"
#include "lib/rasp/readout.hpp"

namespace circuits::cli {

namespace po = boost::program_options;

namespace {

// The input strings as token ids, BOS first when the model has one.
std::vector<int> encode_inputs(const Model& m, const std::string& path, const std::vector<std::string>& inputs) {
    std::vector<int> tokens;
    if (m.cfg.bos_token >= 0) tokens.push_back(m.cfg.bos_token);
    for (const auto& s : inputs) {
        const int t = m.token_index(s);
        if (t < 0) throw Error(path + ": token '" + s + "' is not in the model's vocabulary");
        tokens.push_back(t);
    }
    if (static_cast<int>(tokens.size()) > m.cfg.n_ctx)
        throw Error(path + ": " + std::to_string(tokens.size()) +
                    " tokens (BOS included) exceed n_ctx = " + std::to_string(m.cfg.n_ctx));
    return tokens;
}

// Each printed position's prediction, as text and as the JSON value --json prints.
struct Predictions {
    std::vector<std::string> text;
    nlohmann::json json = nlohmann::json::array();
};

Predictions decode_predictions(const Model& m, const Matrix& logits, size_t first, size_t n_tokens) {
    Predictions p;
    if (m.output_encoding != OutputEncoding::none) {
        // A compiled model: its output s-op, none where it has no value, numbers as numbers.
        for (const auto& reading : rasp::read_output(m, logits, static_cast<int>(first))) {
            p.text.push_back(rasp::to_string(m, reading));
            if (reading.none)
                p.json.push_back(nullptr);
            else if (m.output_encoding == OutputEncoding::numerical)
                p.json.push_back(static_cast<float>(reading.number));
            else
                p.json.push_back(p.text.back());
        }
        return p;
    }
    for (size_t t = first; t < n_tokens; ++t) {
        Eigen::Index best = 0;
        logits.row(static_cast<Eigen::Index>(t)).maxCoeff(&best);
        p.text.push_back(m.vocab_out[static_cast<size_t>(best)]);
        p.json.push_back(p.text.back());
    }
    return p;
}

std::vector<std::string> token_labels(const Model& m, const std::vector<int>& tokens) {
    std::vector<std::string> labels;
    for (int t : tokens) labels.push_back(m.vocab[static_cast<size_t>(t)]);
    return labels;
}

std::vector<std::vector<float>> matrix_rows(const Matrix& p) {
    std::vector<std::vector<float>> rows;
    for (Eigen::Index i = 0; i < p.rows(); ++i) {
        rows.emplace_back();
        for (Eigen::Index k = 0; k < p.cols(); ++k) rows.back().push_back(p(i, k));
    }
    return rows;
}

void print_json(const Model& m, const ForwardResult& r, const std::vector<int>& tokens, size_t first,
                const std::vector<std::string>& inputs, const Predictions& predictions, bool logits, bool attention,
                std::ostream& out) {
    nlohmann::json j;
    j["input"] = inputs;
    j["predictions"] = predictions.json;
    if (logits) {
        std::vector<std::vector<float>> rows;  // [printed positions, d_vocab_out]
        for (size_t t = first; t < tokens.size(); ++t) {
            const RowVector row = r.logits.row(static_cast<Eigen::Index>(t));  // a copy: rows are strided
            rows.emplace_back(row.data(), row.data() + row.size());
        }
        j["logits"] = rows;
    }
    if (attention) {
        j["attention_tokens"] = token_labels(m, tokens);
        for (int l = 0; l < m.cfg.n_layers; ++l)
            for (int h = 0; h < m.cfg.n_heads; ++h)
                j["attention"]["L" + std::to_string(l) + "H" + std::to_string(h)] =
                    matrix_rows(r.patterns[static_cast<size_t>(l)][static_cast<size_t>(h)]);
    }
    out << j.dump() << "\n";
}

// Every head's pattern as a table, rows the queries and columns the keys, labelled by token.
void print_attention(const Model& m, const ForwardResult& r, const std::vector<int>& tokens, std::ostream& out) {
    const auto labels = token_labels(m, tokens);
    for (int l = 0; l < m.cfg.n_layers; ++l)
        for (int h = 0; h < m.cfg.n_heads; ++h) {
            const Matrix& p = r.patterns[static_cast<size_t>(l)][static_cast<size_t>(h)];
            out << "\nL" << l << "H" << h << " attention (rows: query, columns: key)\n" << std::setw(8) << "";
            for (const auto& s : labels) out << std::setw(7) << s.substr(0, 6);
            out << "\n";
            for (Eigen::Index i = 0; i < p.rows(); ++i) {
                out << std::setw(8) << labels[static_cast<size_t>(i)].substr(0, 7);
                for (Eigen::Index k = 0; k < p.cols(); ++k)
                    out << std::setw(7) << std::fixed << std::setprecision(3) << p(i, k);
                out << "\n";
            }
            out.unsetf(std::ios::fixed);
        }
}

int run_run(const po::variables_map& vm, std::ostream& out, std::ostream&) {
    const auto path = vm["model"].as<std::string>();
    const auto inputs = vm.count("input") ? vm["input"].as<std::vector<std::string>>() : std::vector<std::string>{};
    if (inputs.empty()) throw UsageError("no input tokens given (see 'circuits run --help')");
    if (vm.count("logits") && !vm.count("json")) throw UsageError("--logits needs --json (see 'circuits run --help')");
    const Model m = load_model(path);
    const std::vector<int> tokens = encode_inputs(m, path, inputs);
    const ForwardResult r = forward(m, tokens);
    const size_t first = m.cfg.bos_token >= 0 ? 1 : 0;
    const Predictions predictions = decode_predictions(m, r.logits, first, tokens.size());
    const bool attention = vm.count("attention") > 0;
    if (vm.count("json")) {
        print_json(m, r, tokens, first, inputs, predictions, vm.count("logits") > 0, attention, out);
        return 0;
    }
    for (size_t i = 0; i < predictions.text.size(); ++i) out << (i ? " " : "") << predictions.text[i];
    out << "\n";
    if (attention) print_attention(m, r, tokens, out);
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
