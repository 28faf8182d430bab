// Writing and reading the /training group of a trained model file.
#include "lib/train/training_file.hpp"

#include "lib/error.hpp"
#include "lib/hdf5.hpp"
#include "lib/model_io.hpp"

namespace circuits::train {

namespace {

// [K, L, H] row-major from K matrices [L, H].
Array<double> stack_lh(const std::vector<DynamicsPoint>& d, Eigen::MatrixXd DynamicsPoint::*field) {
    Array<double> a;
    const auto& first = d.front().*field;
    a.dims = {d.size(), static_cast<std::uint64_t>(first.rows()), static_cast<std::uint64_t>(first.cols())};
    for (const auto& p : d) {
        const auto& m = p.*field;
        for (Eigen::Index l = 0; l < m.rows(); ++l)
            for (Eigen::Index h = 0; h < m.cols(); ++h) a.data.push_back(m(l, h));
    }
    return a;
}

// The run's options and timing as attributes of /training.
void write_training_attributes(H5Writer& w, const std::string& g, const TrainingRecord& rec) {
    const auto& o = rec.options;
    w.attr(g, "task", rec.task);
    w.attr(g, "task_spec", rec.task_spec);
    if (!rec.command.empty()) w.attr(g, "command", rec.command);
    w.attr(g, "seed", static_cast<std::int64_t>(o.seed));
    w.attr(g, "steps", o.steps);
    w.attr(g, "batch", o.batch);
    w.attr(g, "lr", o.optimiser.lr);
    w.attr(g, "beta1", o.optimiser.beta1);
    w.attr(g, "beta2", o.optimiser.beta2);
    w.attr(g, "eps", o.optimiser.eps);
    w.attr(g, "weight_decay", o.optimiser.weight_decay);
    w.attr(g, "warmup_steps", o.optimiser.warmup_steps);
    w.attr(g, "min_lr_ratio", o.optimiser.min_lr_ratio);
    w.attr(g, "grad_clip", o.optimiser.grad_clip);
    w.attr(g, "chunk", o.chunk);
    w.attr(g, "log_every", o.log_every);
    w.attr(g, "checkpoints", o.checkpoints);
    w.attr(g, "probe_size", o.probe_size);
    w.attr(g, "threads", rec.threads);
    w.attr(g, "seconds", rec.seconds);
    w.attr(g, "steps_per_second", rec.seconds > 0.0 ? o.steps / rec.seconds : 0.0);
    w.attr(g, "circuits_version", CIRCUITS_VERSION);
    w.attr(g, "init", "normal(0, 0.8/sqrt(d_model)) weights and embeddings, zero biases, unit LN scales");
}

// The per-head dynamics series, [points, n_layers, n_heads] (qk_query: [..., d_vocab]).
void write_head_dynamics(H5Writer& w, const std::string& dg, const std::vector<DynamicsPoint>& d,
                         const ModelConfig& c) {
    w.write(dg + "/entropy", stack_lh(d, &DynamicsPoint::entropy));
    w.write(dg + "/prev_token", stack_lh(d, &DynamicsPoint::prev_token));
    w.write(dg + "/induction", stack_lh(d, &DynamicsPoint::induction));
    if (d.front().distinct_mass.size() > 0) {
        w.write(dg + "/distinct_mass", stack_lh(d, &DynamicsPoint::distinct_mass));
        w.write(dg + "/common_mass", stack_lh(d, &DynamicsPoint::common_mass));
        w.write(dg + "/distinct_per_key", stack_lh(d, &DynamicsPoint::distinct_per_key));
        w.write(dg + "/common_per_key", stack_lh(d, &DynamicsPoint::common_per_key));
    }
    if (d.front().qk_query.size() > 0) {
        Array<double> a;
        a.dims = {d.size(), static_cast<std::uint64_t>(c.n_layers), static_cast<std::uint64_t>(c.n_heads),
                  static_cast<std::uint64_t>(c.d_vocab)};
        for (const auto& p : d)
            for (Eigen::Index r = 0; r < p.qk_query.rows(); ++r)
                for (Eigen::Index t = 0; t < p.qk_query.cols(); ++t) a.data.push_back(p.qk_query(r, t));
        w.write(dg + "/qk_query", a);
    }
}

void write_dynamics(H5Writer& w, const std::string& dg, const std::vector<DynamicsPoint>& d, const Task& task,
                    const ModelConfig& c) {
    Array<std::int64_t> steps{{d.size()}, {}};
    Array<double> loss{{d.size()}, {}}, repeat{{d.size()}, {}};
    for (const auto& p : d) {
        steps.data.push_back(p.step);
        loss.data.push_back(p.loss);
        repeat.data.push_back(p.repeat_loss);
    }
    w.write(dg + "/step", steps);
    w.write(dg + "/loss", loss);
    if (task.next_token_task()) w.write(dg + "/repeat_loss", repeat);
    if (c.n_layers > 0) write_head_dynamics(w, dg, d, c);
}

void write_checkpoints(H5Writer& w, const std::string& g, const TrainingRecord& rec) {
    Array<std::int64_t> steps{{rec.checkpoint_steps.size()}, {}};
    for (int s : rec.checkpoint_steps) steps.data.push_back(s);
    w.write(g + "/checkpoints/step", steps);
    for (size_t i = 0; i < rec.checkpoints.size(); ++i)
        write_model_h5(rec.checkpoints[i], w, g + "/checkpoints/" + std::to_string(i));
}

}  // namespace

void write_trained_model(const std::string& path, const TrainResult& result, const Task& task) {
    const auto& rec = result.record;
    AtomicOutput out(path);
    {
        H5Writer w(out.temp_path(), /*compress=*/true);
        write_model_h5(result.model, w, "/");
        const std::string g = "/training";
        write_training_attributes(w, g, rec);
        w.write(g + "/loss", Array<float>{{rec.loss.size()}, rec.loss});
        w.write(g + "/grad_norm", Array<float>{{rec.grad_norm.size()}, rec.grad_norm});
        w.write(g + "/learning_rate", Array<double>{{rec.learning_rate.size()}, rec.learning_rate});
        w.create_group(g + "/task");
        task.write_description(w, g + "/task");
        if (!rec.dynamics.empty()) write_dynamics(w, g + "/dynamics", rec.dynamics, task, result.model.cfg);
        if (!rec.checkpoints.empty()) write_checkpoints(w, g, rec);
        w.close();
    }
    out.commit();
}

namespace {

std::vector<Eigen::MatrixXd> read_lh(const H5Reader& r, const std::string& name, size_t K, int L, int H) {
    std::vector<Eigen::MatrixXd> out;
    if (!r.exists(name)) return out;
    const auto a = r.read_double(name);
    const std::vector<std::uint64_t> want{K, static_cast<std::uint64_t>(L), static_cast<std::uint64_t>(H)};
    if (a.dims != want)
        throw Error(r.where(name) + ": shape does not match [" + std::to_string(K) + ", " + std::to_string(L) + ", " +
                    std::to_string(H) + "]");
    for (size_t k = 0; k < K; ++k) {
        Eigen::MatrixXd m(L, H);
        for (int l = 0; l < L; ++l)
            for (int h = 0; h < H; ++h)
                m(l, h) = a.data[(k * static_cast<size_t>(L) + static_cast<size_t>(l)) * static_cast<size_t>(H) +
                                 static_cast<size_t>(h)];
        out.push_back(m);
    }
    return out;
}

}  // namespace

TrainingCurves read_training(const std::string& path) {
    const H5Reader r(path);
    if (!r.exists("training")) throw Error(r.where("/training") + ": no training record (not a trained model)");
    TrainingCurves t;
    t.task = r.attr_string("training", "task");
    t.task_spec = r.attr_string("training", "task_spec");
    t.loss = r.read_float("training/loss").data;
    t.layers = static_cast<int>(r.attr_int("/", "n_layers"));
    t.heads = static_cast<int>(r.attr_int("/", "n_heads"));
    if (r.exists("training/dynamics/step")) {
        t.steps = r.read_int("training/dynamics/step").data;
        const size_t K = t.steps.size();
        t.probe_loss = r.read_double("training/dynamics/loss").data;
        if (t.probe_loss.size() != K) throw Error(r.where("training/dynamics/loss") + ": length differs from step");
        if (r.exists("training/dynamics/repeat_loss"))
            t.repeat_loss = r.read_double("training/dynamics/repeat_loss").data;
        const auto lh = [&](const char* name) {
            return read_lh(r, std::string("training/dynamics/") + name, K, t.layers, t.heads);
        };
        t.entropy = lh("entropy");
        t.prev_token = lh("prev_token");
        t.induction = lh("induction");
        t.distinct_mass = lh("distinct_mass");
        t.common_mass = lh("common_mass");
        t.distinct_per_key = lh("distinct_per_key");
        t.common_per_key = lh("common_per_key");
    }
    if (r.exists("training/checkpoints/step")) t.checkpoint_steps = r.read_int("training/checkpoints/step").data;
    return t;
}

Model read_checkpoint(const std::string& path, int index) {
    Model m = read_model_h5(path);
    const H5Reader r(path);
    const std::string g = "training/checkpoints/" + std::to_string(index) + "/";
    if (!r.exists("training/checkpoints/" + std::to_string(index)))
        throw Error(r.where("/" + g) + ": no such checkpoint");
    const auto& c = m.cfg;
    const int D = c.d_model, H = c.n_heads, dh = c.d_head;
    m.W_E = r.read_matrix(g + "embed/W_E", c.d_vocab, D);
    if (c.has_positions()) m.W_pos = r.read_matrix(g + "pos_embed/W_pos", c.n_ctx, D);
    const auto ln = [&](const std::string& name) {
        return LayerNormWeights{r.read_vector(g + name + "/w", D), r.read_vector(g + name + "/b", D)};
    };
    const auto rows = [&](const std::string& name) {
        const Matrix s = r.read_matrix(g + name, H, dh);
        std::vector<RowVector> v;
        for (int h = 0; h < H; ++h) v.push_back(s.row(h));
        return v;
    };
    for (int l = 0; l < c.n_layers; ++l) {
        auto& b = m.blocks[static_cast<size_t>(l)];
        const std::string p = "blocks/" + std::to_string(l) + "/";
        if (c.has_ln_weights()) b.ln1 = ln(p + "ln1");
        b.attn.W_Q = r.read_stack(g + p + "attn/W_Q", H, D, dh);
        b.attn.W_K = r.read_stack(g + p + "attn/W_K", H, D, dh);
        b.attn.W_V = r.read_stack(g + p + "attn/W_V", H, D, dh);
        b.attn.W_O = r.read_stack(g + p + "attn/W_O", H, dh, D);
        b.attn.b_Q = rows(p + "attn/b_Q");
        b.attn.b_K = rows(p + "attn/b_K");
        b.attn.b_V = rows(p + "attn/b_V");
        b.attn.b_O = r.read_vector(g + p + "attn/b_O", D).transpose();
        if (c.has_mlp()) {
            if (c.has_ln_weights()) b.ln2 = ln(p + "ln2");
            b.mlp.W_in = r.read_matrix(g + p + "mlp/W_in", D, c.d_mlp);
            b.mlp.b_in = r.read_vector(g + p + "mlp/b_in", c.d_mlp).transpose();
            b.mlp.W_out = r.read_matrix(g + p + "mlp/W_out", c.d_mlp, D);
            b.mlp.b_out = r.read_vector(g + p + "mlp/b_out", D).transpose();
        }
    }
    if (c.has_ln_weights()) m.ln_final = ln("ln_final");
    m.W_U = r.read_matrix(g + "unembed/W_U", D, c.d_vocab_out);
    m.b_U = r.read_vector(g + "unembed/b_U", c.d_vocab_out).transpose();
    m.validate();
    return m;
}

}  // namespace circuits::train
