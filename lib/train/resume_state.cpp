// Writing, reading and checking the binary resume state of a training run.
#include "lib/train/resume_state.hpp"

#include "lib/error.hpp"
#include "lib/hdf5.hpp"
#include "lib/train/trainer.hpp"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <type_traits>

namespace circuits::train {

namespace {

const std::string kMagic = "circuits-resume 1\n";

// FNV-1a over the payload: a truncated or overwritten file is caught before anything is used.
std::uint64_t fnv1a(const std::string& bytes) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : bytes) {
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    return h;
}

class Out {
public:
    template <typename T>
    void pod(const T& v) {
        static_assert(std::is_trivially_copyable_v<T>);
        m_bytes.append(reinterpret_cast<const char*>(&v), sizeof(T));
    }
    template <typename T>
    void vec(const std::vector<T>& v) {
        pod(static_cast<std::uint64_t>(v.size()));
        if (!v.empty()) m_bytes.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
    }
    void str(const std::string& s) {
        pod(static_cast<std::uint64_t>(s.size()));
        m_bytes += s;
    }
    void mat(const Eigen::MatrixXd& m) {
        pod(static_cast<std::int64_t>(m.rows()));
        pod(static_cast<std::int64_t>(m.cols()));
        if (m.size() > 0)
            m_bytes.append(reinterpret_cast<const char*>(m.data()), static_cast<size_t>(m.size()) * sizeof(double));
    }
    const std::string& bytes() const { return m_bytes; }

private:
    std::string m_bytes;
};

class In {
public:
    In(const std::string& bytes, const std::string& path) : m_bytes(bytes), m_path(path) {}
    template <typename T>
    T pod() {
        T v;
        take(&v, sizeof(T));
        return v;
    }
    template <typename T>
    std::vector<T> vec() {
        const auto n = pod<std::uint64_t>();
        if (n > (m_bytes.size() - m_pos) / sizeof(T)) bad("a list longer than the file");
        std::vector<T> v(static_cast<size_t>(n));
        if (n > 0) take(v.data(), static_cast<size_t>(n) * sizeof(T));
        return v;
    }
    std::string str() {
        const auto v = vec<char>();
        return std::string(v.begin(), v.end());
    }
    Eigen::MatrixXd mat() {
        const auto rows = pod<std::int64_t>(), cols = pod<std::int64_t>();
        if (rows < 0 || cols < 0 || (rows > 0 && static_cast<std::uint64_t>(cols) >
                                                      (m_bytes.size() - m_pos) / sizeof(double) /
                                                          static_cast<std::uint64_t>(rows)))
            bad("a matrix larger than the file");
        Eigen::MatrixXd m(rows, cols);
        take(m.data(), static_cast<size_t>(m.size()) * sizeof(double));
        return m;
    }
    bool done() const { return m_pos == m_bytes.size(); }
    [[noreturn]] void bad(const std::string& what) const { corrupt_resume_state(m_path, what); }

private:
    void take(void* dst, size_t n) {
        if (n > m_bytes.size() - m_pos) bad("ends early");
        if (n == 0) return;  // an empty matrix's data() is null, which memcpy may not be given
        std::memcpy(dst, m_bytes.data() + m_pos, n);
        m_pos += n;
    }
    const std::string& m_bytes;
    const std::string& m_path;
    size_t m_pos = 0;
};

const std::vector<Eigen::MatrixXd DynamicsPoint::*>& matrix_fields() {
    static const std::vector<Eigen::MatrixXd DynamicsPoint::*> fields{
        &DynamicsPoint::entropy,          &DynamicsPoint::prev_token,     &DynamicsPoint::induction,
        &DynamicsPoint::distinct_mass,    &DynamicsPoint::common_mass,    &DynamicsPoint::distinct_per_key,
        &DynamicsPoint::common_per_key,   &DynamicsPoint::qk_query};
    return fields;
}

}  // namespace

std::string resume_state_path(const std::string& output) { return output + ".resume"; }

void corrupt_resume_state(const std::string& path, const std::string& what) {
    throw Error(path + ": corrupt resume state (" + what + "); delete it to start afresh");
}

std::string resume_fingerprint(const Task& task, const TrainOptions& o) {
    std::ostringstream os;
    os.precision(17);
    os << "task=" << task.spec() << "\n"
       << "layers=" << o.n_layers << "\nheads=" << o.n_heads << "\nd-model=" << o.d_model << "\nd-head=" << o.d_head
       << "\nd-mlp=" << o.d_mlp << "\npositions=" << static_cast<int>(o.positions)
       << "\nnorm=" << static_cast<int>(o.normalization) << "\nsteps=" << o.steps << "\nbatch=" << o.batch
       << "\nlr=" << o.optimiser.lr << "\nbeta1=" << o.optimiser.beta1 << "\nbeta2=" << o.optimiser.beta2
       << "\neps=" << o.optimiser.eps << "\nweight-decay=" << o.optimiser.weight_decay
       << "\nwarmup=" << o.optimiser.warmup_steps << "\nmin-lr-ratio=" << o.optimiser.min_lr_ratio
       << "\ngrad-clip=" << o.optimiser.grad_clip << "\nseed=" << o.seed << "\nlog-every=" << o.log_every
       << "\ncheckpoints=" << o.checkpoints << "\nprobe-size=" << o.probe_size << "\nchunk=" << o.chunk << "\n"
       << o.resume_key;
    return os.str();
}

void write_resume_state(const std::string& path, const ResumeState& st) {
    Out o;
    o.str(st.fingerprint);
    o.pod(static_cast<std::int64_t>(st.step));
    o.pod(st.seconds);
    o.vec(st.params);
    o.vec(st.adam_m);
    o.vec(st.adam_v);
    for (std::uint64_t s : st.data_rng.s) o.pod(s);
    o.pod(static_cast<std::uint8_t>(st.data_rng.has_spare));
    o.pod(st.data_rng.spare);
    o.vec(st.loss);
    o.vec(st.grad_norm);
    o.vec(st.learning_rate);
    o.pod(static_cast<std::uint64_t>(st.dynamics.size()));
    for (const auto& p : st.dynamics) {
        o.pod(static_cast<std::int64_t>(p.step));
        o.pod(p.loss);
        o.pod(p.repeat_loss);
        for (auto field : matrix_fields()) o.mat(p.*field);
    }
    o.pod(static_cast<std::uint64_t>(st.checkpoints.size()));
    for (const auto& c : st.checkpoints) o.vec(c);

    AtomicOutput out(path);
    {
        std::ofstream f(out.temp_path(), std::ios::binary | std::ios::trunc);
        const std::uint64_t size = o.bytes().size(), hash = fnv1a(o.bytes());
        f.write(kMagic.data(), static_cast<std::streamsize>(kMagic.size()));
        f.write(reinterpret_cast<const char*>(&size), sizeof size);
        f.write(o.bytes().data(), static_cast<std::streamsize>(size));
        f.write(reinterpret_cast<const char*>(&hash), sizeof hash);
        f.close();
        if (!f) throw Error(path + ": cannot write the resume state: " + std::strerror(errno));
    }
    out.commit();
}

ResumeState read_resume_state(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw Error(path + ": cannot open the resume state: " + std::strerror(errno));
    const std::string file((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    const auto bad = [&](const std::string& what) { corrupt_resume_state(path, what); };
    if (file.compare(0, kMagic.size(), kMagic) != 0) bad("not a circuits resume state");
    const size_t head = kMagic.size() + sizeof(std::uint64_t);
    if (file.size() < head + sizeof(std::uint64_t)) bad("truncated");
    std::uint64_t size = 0, hash = 0;
    std::memcpy(&size, file.data() + kMagic.size(), sizeof size);
    if (size != file.size() - head - sizeof hash)
        bad("truncated: " + std::to_string(file.size()) + " bytes, the header says " +
            std::to_string(size + head + sizeof hash));
    std::memcpy(&hash, file.data() + head + size, sizeof hash);
    const std::string payload = file.substr(head, static_cast<size_t>(size));
    if (fnv1a(payload) != hash) bad("checksum mismatch");

    In in(payload, path);
    ResumeState st;
    st.fingerprint = in.str();
    st.step = static_cast<int>(in.pod<std::int64_t>());
    st.seconds = in.pod<double>();
    st.params = in.vec<float>();
    st.adam_m = in.vec<float>();
    st.adam_v = in.vec<float>();
    for (auto& s : st.data_rng.s) s = in.pod<std::uint64_t>();
    st.data_rng.has_spare = in.pod<std::uint8_t>() != 0;
    st.data_rng.spare = in.pod<double>();
    st.loss = in.vec<float>();
    st.grad_norm = in.vec<float>();
    st.learning_rate = in.vec<double>();
    const auto n_dyn = in.pod<std::uint64_t>();
    if (n_dyn > payload.size()) in.bad("too many dynamics points");
    for (std::uint64_t k = 0; k < n_dyn; ++k) {
        DynamicsPoint p;
        p.step = static_cast<int>(in.pod<std::int64_t>());
        p.loss = in.pod<double>();
        p.repeat_loss = in.pod<double>();
        for (auto field : matrix_fields()) p.*field = in.mat();
        st.dynamics.push_back(std::move(p));
    }
    const auto n_ckpt = in.pod<std::uint64_t>();
    if (n_ckpt > payload.size()) in.bad("too many checkpoints");
    for (std::uint64_t k = 0; k < n_ckpt; ++k) st.checkpoints.push_back(in.vec<float>());
    if (!in.done()) in.bad("bytes after the end");
    const size_t S = static_cast<size_t>(st.step);
    if (st.step < 0 || st.loss.size() != S || st.grad_norm.size() != S || st.learning_rate.size() != S)
        in.bad("the histories do not have one entry per step done");
    if (st.adam_m.size() != st.params.size() || st.adam_v.size() != st.params.size())
        in.bad("the optimiser moments do not match the parameters");
    for (const auto& c : st.checkpoints)
        if (c.size() != st.params.size()) in.bad("a checkpoint does not match the parameters");
    return st;
}

void check_resume_fingerprint(const std::string& path, const std::string& saved, const std::string& now) {
    if (saved == now) return;
    std::istringstream a(saved), b(now);
    std::string la, lb;
    while (true) {
        const bool ga = static_cast<bool>(std::getline(a, la)), gb = static_cast<bool>(std::getline(b, lb));
        if (!ga && !gb) break;
        if (!ga) la = "(absent)";
        if (!gb) lb = "(absent)";
        if (la != lb)
            throw UsageError(path + ": the resume state was written with other options (" + la + ", now " + lb +
                             "); rerun with the same options, or without --resume to start afresh");
    }
    throw UsageError(path + ": the resume state was written with other options");
}

}  // namespace circuits::train
