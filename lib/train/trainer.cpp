// The training loop: sample a batch, chunked forward/backward over the workers, reduce, AdamW, log.
#include "lib/train/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "lib/error.hpp"
#include "lib/parallel.hpp"
#include "lib/train/resume_state.hpp"
#include "lib/train/rng.hpp"

#include <filesystem>

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
    need(o.save_every >= 0, "--save-every must be >= 0, got " + std::to_string(o.save_every));
    need(o.stop_after >= 0, "stop_after must be >= 0, got " + std::to_string(o.stop_after));
}

Model to_model(const Params<float>& p, const Task& task) {
    Model m = Model::zeros(p.cfg());
    copy_to_model(p, m);
    m.vocab = task.vocab();
    m.vocab_out = task.vocab_out();
    return m;
}

// The defaults that depend on other options (warmup from the step count) filled in.
TrainOptions resolved_options(const TrainOptions& options) {
    check_options(options);
    TrainOptions o = options;
    if (o.warmup_steps < 0) o.warmup_steps = std::min(100, o.steps / 10);
    o.optimiser.warmup_steps = o.warmup_steps;
    o.optimiser.total_steps = o.steps;
    return o;
}

// How many targets of the batch are scored (>= 0): the loss is their mean.
long scored_positions(const std::vector<Example>& batch, const Task& task) {
    long scored = 0;
    for (const auto& e : batch)
        for (int t : e.targets) scored += t >= 0;
    if (scored == 0) throw Error("train: a batch of task '" + task.spec() + "' has no scored position");
    return scored;
}

// The batch gradient over fixed chunks of `chunk` examples, each chunk into its own buffer and
// summed in chunk order, so the result is the same bits whatever the number of workers.
class BatchGradient {
public:
    BatchGradient(const ModelConfig& cfg, WorkerPool& pool, int batch, int chunk)
        : m_pool(pool),
          m_chunk(chunk),
          m_n_chunks((batch + chunk - 1) / chunk),
          m_grads(static_cast<size_t>(m_n_chunks), Params<float>(cfg)),
          m_work(static_cast<size_t>(pool.size())),
          m_chunk_loss(static_cast<size_t>(m_n_chunks)) {}

    // The batch's summed loss; the gradient of (weight x that sum) is then total().
    double compute(const Params<float>& params, const std::vector<Example>& batch, float weight) {
        m_pool.run(m_n_chunks, [&](int worker, std::int64_t c) {
            auto& g = m_grads[static_cast<size_t>(c)];
            g.set_zero();
            const size_t begin = static_cast<size_t>(c) * static_cast<size_t>(m_chunk);
            const size_t end = std::min(batch.size(), begin + static_cast<size_t>(m_chunk));
            auto& w = m_work[static_cast<size_t>(worker)];
            m_chunk_loss[static_cast<size_t>(c)] =
                w.forward(params, std::span<const Example>(batch.data() + begin, end - begin));
            w.backward(params, weight, g);
        });
        sum_into_first();
        double loss = 0.0;
        for (double l : m_chunk_loss) loss += l;
        return loss;
    }

    Params<float>& total() { return m_grads[0]; }

private:
    // Sum the chunk gradients into m_grads[0] in chunk order, over disjoint ranges of the array.
    void sum_into_first() {
        const auto P = static_cast<Eigen::Index>(m_grads[0].data().size());
        const int ranges = std::min<int>(m_pool.size(), static_cast<int>(std::max<Eigen::Index>(1, P / 4096)));
        m_pool.run(ranges, [&](int, std::int64_t r) {
            const Eigen::Index lo = P * r / ranges, hi = P * (r + 1) / ranges;
            float* total = m_grads[0].data().data();
            for (size_t c = 1; c < m_grads.size(); ++c) {
                const float* g = m_grads[c].data().data();
                for (Eigen::Index i = lo; i < hi; ++i) total[i] += g[i];
            }
        });
    }

    WorkerPool& m_pool;
    const int m_chunk;
    const int m_n_chunks;
    std::vector<Params<float>> m_grads;
    std::vector<Backprop<float>> m_work;
    std::vector<double> m_chunk_loss;
};

}  // namespace

TrainResult train(const Task& task, const TrainOptions& options, const ProgressCallback& progress) {
    const TrainOptions o = resolved_options(options);
    const ModelConfig cfg = train_config(task, o);
    cfg.validate();

    Params<float> params(cfg);
    Rng init_rng = Rng::derived(o.seed, 1), data_rng = Rng::derived(o.seed, 2), probe_rng = Rng::derived(o.seed, 3);
    init_params(params, init_rng);
    AdamW adamw(params, o.optimiser);
    const DynamicsProbe probe = make_dynamics_probe(task, o.probe_size, probe_rng);

    WorkerPool pool(o.threads);
    BatchGradient gradient(cfg, pool, o.batch, o.chunk);
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
        if (step % o.log_every == 0 || step == o.steps)
            rec.dynamics.push_back(measure_dynamics(params, task, probe, probe_work, step));
        if (next_checkpoint < rec.checkpoint_steps.size() && rec.checkpoint_steps[next_checkpoint] == step) {
            rec.checkpoints.push_back(to_model(params, task));
            ++next_checkpoint;
        }
    };

    // A resume state continues the run from its step: parameters, moments, the data generator and
    // the record so far; the probe and the initialisation above are a function of the seed.
    const std::string fingerprint = o.resume_path.empty() ? std::string() : resume_fingerprint(task, o);
    int first_step = 1;
    double seconds_before = 0.0;
    if (o.resume && !o.resume_path.empty() && std::filesystem::exists(o.resume_path)) {
        ResumeState st = read_resume_state(o.resume_path);
        check_resume_fingerprint(o.resume_path, st.fingerprint, fingerprint);
        if (st.params.size() != params.data().size() || st.step > o.steps)
            corrupt_resume_state(o.resume_path, "does not match the model or the step count");
        params.data() = std::move(st.params);
        adamw.set_moments(std::move(st.adam_m), std::move(st.adam_v));
        data_rng.set_state(st.data_rng);
        rec.loss = std::move(st.loss);
        rec.grad_norm = std::move(st.grad_norm);
        rec.learning_rate = std::move(st.learning_rate);
        rec.dynamics = std::move(st.dynamics);
        if (st.checkpoints.size() > rec.checkpoint_steps.size())
            corrupt_resume_state(o.resume_path, "more checkpoints than the run keeps");
        Params<float> kept(cfg);
        for (auto& c : st.checkpoints) {
            kept.data() = std::move(c);
            rec.checkpoints.push_back(to_model(kept, task));
        }
        next_checkpoint = rec.checkpoints.size();
        first_step = st.step + 1;
        seconds_before = st.seconds;
        result.resumed_from = st.step;
    }
    const int save_every = o.save_every > 0 ? o.save_every : o.log_every;
    const auto start = std::chrono::steady_clock::now();
    const auto elapsed = [&] {
        return seconds_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    const auto save_state = [&](int step) {
        ResumeState st;
        st.fingerprint = fingerprint;
        st.step = step;
        st.seconds = elapsed();
        st.params = params.data();
        st.adam_m = adamw.first_moment();
        st.adam_v = adamw.second_moment();
        st.data_rng = data_rng.state();
        st.loss = rec.loss;
        st.grad_norm = rec.grad_norm;
        st.learning_rate = rec.learning_rate;
        st.dynamics = rec.dynamics;
        for (const auto& m : rec.checkpoints) st.checkpoints.push_back(params_from_model<float>(m).data());
        write_resume_state(o.resume_path, st);
    };
    if (first_step == 1) log_point(0);
    std::vector<Example> batch(static_cast<size_t>(o.batch));
    for (int step = first_step; step <= o.steps; ++step) {
        for (auto& e : batch) e = task.sample(data_rng);
        const long scored = scored_positions(batch, task);
        const float weight = 1.0f / static_cast<float>(scored);
        const double loss = gradient.compute(params, batch, weight) / static_cast<double>(scored);
        const double norm = adamw.step(params, gradient.total(), step);
        rec.loss.push_back(static_cast<float>(loss));
        rec.grad_norm.push_back(static_cast<float>(norm));
        rec.learning_rate.push_back(learning_rate(o.optimiser, step));
        if (!std::isfinite(loss))
            throw Error("train: the loss became " + std::to_string(loss) + " at step " + std::to_string(step) +
                        " (try a smaller --lr)");
        log_point(step);
        const bool stop = step == o.stop_after && step < o.steps;
        if (!o.resume_path.empty() && (step % save_every == 0 || stop)) save_state(step);
        if (progress) {
            const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            progress({step, o.steps, loss, secs > 0.0 ? (step - first_step + 1) / secs : 0.0});
        }
        if (stop) {
            result.complete = false;
            break;
        }
    }
    rec.seconds = elapsed();
    result.model = to_model(params, task);
    task.annotate_model(result.model);
    return result;
}

}  // namespace circuits::train
