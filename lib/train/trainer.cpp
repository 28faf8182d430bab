// The training loop: sample a batch, chunked forward/backward over the workers, reduce, AdamW, log.
#include "lib/train/trainer.hpp"

#include "lib/error.hpp"
#include "lib/parallel.hpp"
#include "lib/train/rng.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace circuits::train {

ModelConfig train_config(const Task& task, const TrainOptions& o) {
    ModelConfig c;
    c.n_layers = o.n_layers;
    c.n_heads = o.n_heads;
    c.d_model = o.d_model;
    c.d_head = o.d_head;
    c.d_mlp = o.d_mlp;
    c.d_vocab = static_cast<int>(task.vocab().size());
    c.d_vocab_out = static_cast<int>(task.vocab_out().size());
    c.n_ctx = task.n_ctx();
    c.positional_embedding_type = o.positions;
    c.normalization_type = o.normalization;
    c.causal = task.causal();
    c.origin = Origin::trained;
    c.bos_token = task.bos_token();
    return c;
}

std::vector<int> checkpoint_steps(int steps, int count) {
    std::vector<int> out;
    if (count <= 0) return out;
    if (count == 1) return {steps};
    out.push_back(0);
    if (count == 2) {
        out.push_back(steps);
    } else {
        for (int k = 0; k <= count - 2; ++k) {
            const int s = static_cast<int>(std::lround(std::pow(static_cast<double>(steps), k / double(count - 2))));
            if (s > out.back()) out.push_back(std::min(s, steps));
        }
    }
    if (out.back() != steps) out.push_back(steps);
    return out;
}

namespace {

void check_options(const TrainOptions& o) {
    const auto need = [](bool ok, const std::string& what) {
        if (!ok) throw UsageError(what);
    };
    need(o.n_layers >= 0, "--layers must be >= 0, got " + std::to_string(o.n_layers));
    need(o.n_heads >= 1, "--heads must be >= 1, got " + std::to_string(o.n_heads));
    need(o.d_model >= 1, "--d-model must be >= 1, got " + std::to_string(o.d_model));
    need(o.d_head >= 1, "--d-head must be >= 1, got " + std::to_string(o.d_head));
    need(o.d_mlp >= 0, "--d-mlp must be >= 0, got " + std::to_string(o.d_mlp));
    need(o.steps >= 1, "--steps must be >= 1, got " + std::to_string(o.steps));
    need(o.batch >= 1, "--batch must be >= 1, got " + std::to_string(o.batch));
    need(o.optimiser.lr > 0.0 && std::isfinite(o.optimiser.lr), "--lr must be positive");
    need(o.log_every >= 1, "--log-every must be >= 1, got " + std::to_string(o.log_every));
    need(o.checkpoints >= 0, "--checkpoints must be >= 0, got " + std::to_string(o.checkpoints));
    need(o.probe_size >= 1, "--probe-size must be >= 1, got " + std::to_string(o.probe_size));
    need(o.threads >= 0, "--threads must be >= 0, got " + std::to_string(o.threads));
    need(o.chunk >= 1, "--chunk must be >= 1, got " + std::to_string(o.chunk));
    need(o.warmup_steps >= -1, "--warmup must be >= 0");
}

Model to_model(const Params<float>& p, const Task& task) {
    Model m = Model::zeros(p.cfg());
    copy_to_model(p, m);
    m.vocab = task.vocab();
    m.vocab_out = task.vocab_out();
    return m;
}

}  // namespace

TrainResult train(const Task& task, const TrainOptions& options, const ProgressCallback& progress) {
    check_options(options);
    TrainOptions o = options;
    if (o.warmup_steps < 0) o.warmup_steps = std::min(100, o.steps / 10);
    o.optimiser.warmup_steps = o.warmup_steps;
    o.optimiser.total_steps = o.steps;
    const ModelConfig cfg = train_config(task, o);
    cfg.validate();

    Params<float> params(cfg);
    Rng init_rng = Rng::derived(o.seed, 1), data_rng = Rng::derived(o.seed, 2), probe_rng = Rng::derived(o.seed, 3);
    init_params(params, init_rng);
    AdamW adamw(params, o.optimiser);
    const DynamicsProbe probe = make_dynamics_probe(task, o.probe_size, probe_rng);

    WorkerPool pool(o.threads);
    const int n_chunks = (o.batch + o.chunk - 1) / o.chunk;
    std::vector<Params<float>> grads(static_cast<size_t>(n_chunks), Params<float>(cfg));
    std::vector<Backprop<float>> work(static_cast<size_t>(pool.size()));
    std::vector<double> chunk_loss(static_cast<size_t>(n_chunks));
    Backprop<float> probe_work;

    TrainResult result;
    TrainingRecord& rec = result.record;
    rec.task = task.name();
    rec.task_spec = task.spec();
    rec.options = o;
    rec.threads = pool.size();
    rec.checkpoint_steps = checkpoint_steps(o.steps, o.checkpoints);
    size_t next_checkpoint = 0;
    const auto log_point = [&](int step) {
        if (step % o.log_every == 0 || step == o.steps) rec.dynamics.push_back(measure_dynamics(params, task, probe, probe_work, step));
        if (next_checkpoint < rec.checkpoint_steps.size() && rec.checkpoint_steps[next_checkpoint] == step) {
            rec.checkpoints.push_back(to_model(params, task));
            ++next_checkpoint;
        }
    };

    const auto start = std::chrono::steady_clock::now();
    log_point(0);
    std::vector<Example> batch(static_cast<size_t>(o.batch));
    const auto P = static_cast<Eigen::Index>(params.data().size());
    for (int step = 1; step <= o.steps; ++step) {
        for (auto& e : batch) e = task.sample(data_rng);
        long scored = 0;
        for (const auto& e : batch)
            for (int t : e.targets) scored += t >= 0;
        if (scored == 0) throw Error("train: a batch of task '" + task.spec() + "' has no scored position");
        const float weight = 1.0f / static_cast<float>(scored);

        pool.run(n_chunks, [&](int worker, std::int64_t c) {
            auto& g = grads[static_cast<size_t>(c)];
            g.set_zero();
            const size_t begin = static_cast<size_t>(c) * static_cast<size_t>(o.chunk);
            const size_t end = std::min(batch.size(), begin + static_cast<size_t>(o.chunk));
            auto& w = work[static_cast<size_t>(worker)];
            chunk_loss[static_cast<size_t>(c)] =
                w.forward(params, std::span<const Example>(batch.data() + begin, end - begin));
            w.backward(params, weight, g);
        });
        // Sum the chunk gradients into grads[0] in chunk order, over disjoint ranges of the array.
        const int ranges = std::min<int>(pool.size(), static_cast<int>(std::max<Eigen::Index>(1, P / 4096)));
        pool.run(ranges, [&](int, std::int64_t r) {
            const Eigen::Index lo = P * r / ranges, hi = P * (r + 1) / ranges;
            float* total = grads[0].data().data();
            for (size_t c = 1; c < grads.size(); ++c) {
                const float* g = grads[c].data().data();
                for (Eigen::Index i = lo; i < hi; ++i) total[i] += g[i];
            }
        });
        double loss = 0.0;
        for (double l : chunk_loss) loss += l;
        loss /= static_cast<double>(scored);
        const double norm = adamw.step(params, grads[0], step);
        rec.loss.push_back(static_cast<float>(loss));
        rec.grad_norm.push_back(static_cast<float>(norm));
        rec.learning_rate.push_back(learning_rate(o.optimiser, step));
        if (!std::isfinite(loss)) throw Error("train: the loss became " + std::to_string(loss) + " at step " + std::to_string(step) + " (try a smaller --lr)");
        log_point(step);
        if (progress) {
            const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            progress({step, o.steps, loss, secs > 0.0 ? step / secs : 0.0});
        }
    }
    rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    result.model = to_model(params, task);
    task.annotate_model(result.model);
    return result;
}

}  // namespace circuits::train
