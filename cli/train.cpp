// `circuits train TASK -o MODEL`: train an attention-only transformer and write it with its /training record.
#include "cli/commands.hpp"

#include "lib/error.hpp"
#include "lib/train/resume_state.hpp"
#include "lib/train/training_file.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iomanip>
#include <ostream>
#include <sstream>

namespace circuits::cli {

namespace po = boost::program_options;

namespace {

// Comma- or space-separated token lists: "--vocab a,b,c" and "--vocab a b c" both work.
std::vector<std::string> split_tokens(const std::vector<std::string>& args) {
    std::vector<std::string> out;
    for (const auto& a : args) {
        std::string cur;
        for (char ch : a) {
            if (ch == ',' || ch == ' ') {
                if (!cur.empty()) out.push_back(cur);
                cur.clear();
            } else {
                cur += ch;
            }
        }
        if (!cur.empty()) out.push_back(cur);
    }
    return out;
}

// The options the user gave, as a command line (for the record in /training).
std::string command_line(const po::variables_map& vm) {
    std::ostringstream os;
    os << "circuits train " << vm["task"].as<std::string>();
    for (const auto& [name, value] : vm) {
        // --resume and --save-every change how the run is done, not what it computes.
        if (name == "task" || name == "resume" || name == "save-every" || value.defaulted()) continue;
        os << " --" << name;
        const auto& v = value.value();
        if (const auto* i = boost::any_cast<int>(&v)) os << " " << *i;
        else if (const auto* d = boost::any_cast<double>(&v)) os << " " << *d;
        else if (const auto* u = boost::any_cast<std::uint64_t>(&v)) os << " " << *u;
        else if (const auto* s = boost::any_cast<std::string>(&v)) os << " " << *s;
        else if (const auto* l = boost::any_cast<std::vector<std::string>>(&v))
            for (const auto& x : *l) os << " " << x;
    }
    return os.str();
}

// The task options as "name=value" lines, for the resume state's fingerprint.
std::string task_key(const train::TaskOptions& t) {
    std::ostringstream os;
    os.precision(17);
    os << "vocab=";
    for (const auto& v : t.vocab) os << v << ",";
    os << "\nbos=" << t.bos << "\nmax-len=" << t.max_len << "\nvocab-size=" << t.vocab_size
       << "\nlogit-std=" << t.bigram_logit_std << "\nclasses=" << t.classes << "\ndistinct=" << t.distinct
       << "\ncommon=" << t.common << "\ncommon-prob=" << t.common_prob << "\n";
    return os.str();
}

class ProgressPrinter {
public:
    ProgressPrinter(std::ostream& err, bool terminal, int every) : m_err(err), m_terminal(terminal), m_every(every) {}
    void operator()(const train::TrainProgress& p) {
        if (m_terminal) {
            const auto now = std::chrono::steady_clock::now();
            if (p.step != p.steps && now - m_last < std::chrono::milliseconds(100)) return;
            m_last = now;
            constexpr int kWidth = 30;
            const int filled = static_cast<int>(static_cast<long>(kWidth) * p.step / p.steps);
            m_err << "\r[" << std::string(static_cast<size_t>(filled), '#') << std::string(static_cast<size_t>(kWidth - filled), '.')
                  << "] step " << p.step << "/" << p.steps << "  loss " << std::fixed << std::setprecision(4) << p.loss
                  << "  " << std::setprecision(1) << p.steps_per_second << " steps/s" << std::defaultfloat << std::flush;
            if (p.step == p.steps) m_err << "\n";
        } else if (p.step % m_every == 0 || p.step == p.steps) {
            m_err << "step " << p.step << "/" << p.steps << " loss " << std::fixed << std::setprecision(4) << p.loss
                  << " steps/s " << std::setprecision(1) << p.steps_per_second << std::defaultfloat << "\n";
        }
    }

private:
    std::ostream& m_err;
    bool m_terminal;
    int m_every;
    std::chrono::steady_clock::time_point m_last{};
};

int run_train(const po::variables_map& vm, std::ostream& out, std::ostream& err) {
    const auto spec = vm["task"].as<std::string>();
    const auto path = vm["output"].as<std::string>();
    const bool scan_snap = spec == "scan-snap";
    // Scan and Snap is a one-layer, one-head, position-free setting unless asked otherwise.
    const auto int_opt = [&](const char* name, int scan_snap_default) {
        return scan_snap && vm[name].defaulted() ? scan_snap_default : vm[name].as<int>();
    };

    train::TaskOptions t;
    if (vm.count("vocab")) t.vocab = split_tokens(vm["vocab"].as<std::vector<std::string>>());
    t.bos = vm["bos"].as<std::string>();
    t.max_len = vm["max-len"].as<int>();
    t.vocab_size = vm["vocab-size"].as<int>();
    t.bigram_logit_std = vm["logit-std"].as<double>();
    t.classes = vm["classes"].as<int>();
    t.distinct = vm["distinct"].as<int>();
    t.common = vm["common"].as<int>();
    t.common_prob = vm["common-prob"].as<double>();

    train::TrainOptions o;
    o.n_layers = int_opt("layers", 1);
    o.n_heads = int_opt("heads", 1);
    o.d_model = vm["d-model"].as<int>();
    o.d_head = vm["d-head"].as<int>();
    o.d_mlp = vm["d-mlp"].as<int>();
    try {
        o.positions = parse_positional_embedding(scan_snap && vm["positions"].defaulted() ? std::string("none")
                                                                                          : vm["positions"].as<std::string>());
        o.normalization = parse_normalization(vm["norm"].as<std::string>());
    } catch (const Error& e) {
        throw UsageError(e.what());
    }
    o.steps = vm["steps"].as<int>();
    o.batch = vm["batch"].as<int>();
    o.optimiser.lr = vm["lr"].as<double>();
    o.optimiser.weight_decay = vm["weight-decay"].as<double>();
    o.optimiser.min_lr_ratio = vm["min-lr-ratio"].as<double>();
    o.optimiser.grad_clip = vm["grad-clip"].as<double>();
    o.optimiser.beta2 = vm["beta2"].as<double>();
    o.warmup_steps = vm["warmup"].as<int>();
    o.seed = vm["seed"].as<std::uint64_t>();
    o.log_every = vm["log-every"].as<int>();
    o.checkpoints = vm["checkpoints"].as<int>();
    o.probe_size = vm["probe-size"].as<int>();
    o.threads = vm["threads"].as<int>();
    o.chunk = vm["chunk"].as<int>();

    o.resume_path = train::resume_state_path(path);
    o.save_every = vm["save-every"].as<int>();
    o.resume = vm["resume"].as<bool>();
    o.resume_key = task_key(t);

    const auto task = train::make_task(spec, t, o.seed);
    if (o.resume && !std::filesystem::exists(o.resume_path))
        err << "circuits: no resume state at " << o.resume_path << "; training from step 0\n";
    ProgressPrinter printer(err, stderr_is_terminal(), o.log_every);
    train::TrainResult r = train::train(*task, o, std::ref(printer));
    if (r.resumed_from > 0) err << "circuits: resumed from step " << r.resumed_from << " of " << o.resume_path << "\n";
    r.record.command = command_line(vm);
    train::write_trained_model(path, r, *task);
    // The output is in place: the state it was resumed from is no longer needed.
    std::error_code ec;
    std::filesystem::remove(o.resume_path, ec);
    const auto& rec = r.record;
    out << "wrote " << path << ": " << rec.options.steps << " steps in " << std::fixed << std::setprecision(2)
        << rec.seconds << " s (" << std::setprecision(1) << rec.options.steps / rec.seconds << " steps/s, "
        << rec.threads << " threads), final loss " << std::setprecision(4) << rec.loss.back() << "\n";
    return 0;
}

}  // namespace

Command train_command() {
    return {"train",
            "train an attention-only transformer on a synthetic task",
            "circuits train TASK -o MODEL [--layers N] [--heads H] [--d-model D] [--d-head D] [--positions P]\n"
            "       [--steps S] [--batch B] [--lr LR] [--seed S] [--log-every N] [--checkpoints C] [--resume]\n"
            "       [--save-every N] [task options]",
            "Tasks: induction (random tokens with a repeated segment; --vocab, --bos, --max-len; defaults:\n"
            "BOS + a b c d, max_len 8, as the compiled data/programs/induction.rasp), bigram (a random\n"
            "Markov chain; --vocab or --vocab-size, --max-len, --logit-std), scan-snap (Tian et al.'s\n"
            "setting; --classes, --distinct, --common, --common-prob, --max-len; defaults to one layer, one\n"
            "head, no positions), program:FILE.rasp (inputs uniform over the program's vocabulary and\n"
            "lengths 1..max_len, targets the evaluator's categorical output, none not scored; vocabularies,\n"
            "n_ctx and causal mask those of the compiled model; the source is stored as compiled models\n"
            "store it). Next-token (induction, bigram) or per-position\n"
            "cross-entropy, AdamW with linear warm-up and cosine decay, batches spread over --threads in\n"
            "fixed chunks: a seed gives the same model bit for bit whatever the thread count. Writes an\n"
            "ordinary model file (origin = trained) with a /training group: options, loss curve, dynamics on\n"
            "a fixed probe batch every --log-every steps (loss, attention entropy, previous-token and\n"
            "induction scores per head; distinct/common attention mass for scan-snap) and checkpoints at\n"
            "log-spaced steps. Progress goes to stderr (a bar on a terminal, plain lines otherwise).\n"
            "Resuming: while it trains, the command keeps MODEL.resume (weights, AdamW moments, the data\n"
            "generator, the record so far), replaced atomically every --save-every steps and removed once\n"
            "MODEL is written. After a kill, rerun the same command with --resume: it continues from the\n"
            "last saved step and writes the same weights and training record bit for bit as an\n"
            "uninterrupted run (--threads may differ). With --resume and no state it says so and trains\n"
            "from step 0; a state written with other options is refused (exit 2), an unreadable one is an\n"
            "error naming the file (exit 1). Without --resume an existing state is overwritten.",
            "circuits train induction -o induction-2l.h5 --layers 2 --heads 4 --d-model 32 --d-head 8 --steps 3000",
            [](po::options_description& opts, po::positional_options_description& pos) {
                opts.add_options()("task", po::value<std::string>()->required(), "induction | bigram | scan-snap | program:FILE.rasp")(
                    "output,o", po::value<std::string>()->required(), "model file to write")(
                    "layers", po::value<int>()->default_value(2), "attention layers (scan-snap: 1)")(
                    "heads", po::value<int>()->default_value(4), "heads per layer (scan-snap: 1)")(
                    "d-model", po::value<int>()->default_value(64), "residual stream width")(
                    "d-head", po::value<int>()->default_value(16), "head dimension")(
                    "d-mlp", po::value<int>()->default_value(0), "MLP width (0 = attention-only)")(
                    "positions", po::value<std::string>()->default_value("standard"),
                    "standard | shortformer | none (scan-snap: none)")(
                    "norm", po::value<std::string>()->default_value("none"), "none | LN | LNPre")(
                    "steps", po::value<int>()->default_value(2000), "optimiser steps")(
                    "batch", po::value<int>()->default_value(32), "sequences per step")(
                    "lr", po::value<double>()->default_value(1e-3), "peak learning rate")(
                    "weight-decay", po::value<double>()->default_value(0.01), "AdamW weight decay (weight matrices)")(
                    "warmup", po::value<int>()->default_value(-1), "warm-up steps (-1 = min(100, steps/10))")(
                    "min-lr-ratio", po::value<double>()->default_value(0.1), "final learning rate / peak (1 = constant)")(
                    "grad-clip", po::value<double>()->default_value(1.0), "gradient norm limit (0 = none)")(
                    "beta2", po::value<double>()->default_value(0.999), "Adam beta2")(
                    "seed", po::value<std::uint64_t>()->default_value(0), "seed of initialisation, data and probes")(
                    "log-every", po::value<int>()->default_value(50), "log dynamics (and print progress) every N steps")(
                    "checkpoints", po::value<int>()->default_value(8), "models kept at log-spaced steps")(
                    "probe-size", po::value<int>()->default_value(32), "sequences in the probe batches")(
                    "threads", po::value<int>()->default_value(0), "threads (0 = all cores); does not change results")(
                    "chunk", po::value<int>()->default_value(8), "sequences per gradient chunk (changes rounding)")(
                    "resume", po::bool_switch()->default_value(false), "continue from MODEL.resume when it exists")(
                    "save-every", po::value<int>()->default_value(0), "save MODEL.resume every N steps (0 = --log-every)")(
                    "vocab", po::value<std::vector<std::string>>()->multitoken(), "tokens (induction, bigram)")(
                    "bos", po::value<std::string>()->default_value("BOS"), "induction: BOS token ('' = none)")(
                    "max-len", po::value<int>()->default_value(0),
                    "tokens per sequence, BOS not counted (0 = the task's: induction 8, bigram and scan-snap 16)")(
                    "vocab-size", po::value<int>()->default_value(16), "bigram: tokens when --vocab is not given")(
                    "logit-std", po::value<double>()->default_value(2.0), "bigram: std of transition logits")(
                    "classes", po::value<int>()->default_value(4), "scan-snap: sequence classes")(
                    "distinct", po::value<int>()->default_value(4), "scan-snap: distinct tokens per class")(
                    "common", po::value<int>()->default_value(4), "scan-snap: common tokens")(
                    "common-prob", po::value<double>()->default_value(0.5), "scan-snap: share of common context tokens");
                pos.add("task", 1);
            },
            run_train};
}

}  // namespace circuits::cli
