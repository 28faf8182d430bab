// Builds the reports' test fixture: a planted model and a hand-written results file (contract names).
#include "tests/reports/report_fixture.hpp"

#include "lib/hdf5.hpp"
#include "lib/model_io.hpp"
#include "lib/planted.hpp"

#include <Eigen/Eigenvalues>

#include <cmath>
#include <complex>
#include <numeric>

namespace circuits::test {

namespace {

// Top-k of each row of `m` [rows, cols] into [l, h, row, :] of tokens / values [L, H, rows, k].
void top_k_rows(const Matrix& m, int l, int h, Array<float>& tokens, Array<float>& values) {
    const int k = static_cast<int>(tokens.dims[3]);
    for (Eigen::Index r = 0; r < m.rows(); ++r) {
        std::vector<int> order(static_cast<size_t>(m.cols()));
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return m(r, a) > m(r, b); });
        for (int j = 0; j < k; ++j) {
            tokens.at({l, h, static_cast<int>(r), j}) = static_cast<float>(order[static_cast<size_t>(j)]);
            values.at({l, h, static_cast<int>(r), j}) = m(r, order[static_cast<size_t>(j)]);
        }
    }
}

double copying_score(const Eigen::VectorXcd& eig) {
    double sum = 0.0, abs_sum = 0.0;
    for (const auto& v : eig) sum += v.real(), abs_sum += std::abs(v);
    return abs_sum > 1e-9 ? sum / abs_sum : std::nan("");
}

double composition_score(const Matrix& X, const Matrix& Y) {
    const double den = double(X.norm()) * double(Y.norm());
    return den > 0 ? double((X * Y).norm()) / den : std::nan("");
}

}  // namespace

std::vector<std::string> awkward_vocab() {
    return {"<BOS>", "<b>&amp;", "\"q'uote\"", "héllo✓", "a\nb", "</title>", "x"};
}

ReportFixture make_report_fixture(const TempDir& dir, const ReportFixtureOptions& o) {
    PlantedInductionOptions po;
    po.n_tokens = 6;
    po.n_ctx = 16;
    ReportFixture f;
    f.model = planted_induction_model(po);
    Model& m = f.model;
    const auto old_vocab = m.vocab;
    m.vocab = awkward_vocab();
    m.vocab_out = m.vocab;
    for (auto& label : m.residual_labels)
        for (size_t t = 0; t < old_vocab.size(); ++t) {
            const auto colon = label.find(':');
            if (colon != std::string::npos && label.substr(colon + 1) == old_vocab[t] && label.substr(0, colon) != "pos")
                label = label.substr(0, colon + 1) + m.vocab[t];
        }
    if (!o.program_source.empty()) {
        m.program_source = o.program_source;
        m.output_sop = "out";
        m.cfg.origin = Origin::compiled;
    }
    f.model_path = dir.file("model.h5");
    f.results_path = dir.file("results.h5");
    if (o.write_model) write_model_h5(m, f.model_path);

    const int L = m.cfg.n_layers, H = m.cfg.n_heads, V = m.cfg.d_vocab, k = o.top_k, P = o.qk_positions;
    const auto uL = static_cast<std::uint64_t>(L), uH = static_cast<std::uint64_t>(H);
    const float scale = static_cast<float>(m.cfg.effective_attn_scale());
    auto head = [&](int l) -> const AttentionWeights& { return m.blocks[static_cast<size_t>(l)].attn; };
    auto OV = [&](int l, int h) -> Matrix { return head(l).W_V[size_t(h)] * head(l).W_O[size_t(h)]; };
    auto QK = [&](int l, int h) -> Matrix { return head(l).W_Q[size_t(h)] * head(l).W_K[size_t(h)].transpose(); };

    H5Writer w(f.results_path);
    w.attr("/", "format", "circuits-results");
    w.attr("/", "format_version", 1);
    w.attr("/", "model_path", f.model_path);
    w.attr("/", "model_sha256", std::string(64, '0'));
    w.attr("/", "circuits_version", "test");
    std::string passes;
    for (const auto& g : o.groups) passes += (passes.empty() ? "" : ",") + g;
    w.attr("/", "passes", passes);
    w.attr("/", "weight_processing", "none");
    w.attr("/", "top_k", k);

    if (o.groups.count("bigram")) {
        const Matrix bigram = m.W_E * m.W_U;  // [V, V]
        auto tokens = Array<float>::filled({1, 1, uint64_t(V), uint64_t(k)}, 0.0f), values = tokens;
        top_k_rows(bigram, 0, 0, tokens, values);
        Array<float> t2{{uint64_t(V), uint64_t(k)}, tokens.data}, v2{{uint64_t(V), uint64_t(k)}, values.data};
        w.write("/bigram/top_tokens", t2);
        w.write("/bigram/top_logits", v2);
    }
    if (o.groups.count("circuits")) {
        auto ov_tokens = Array<float>::filled({uL, uH, uint64_t(V), uint64_t(k)}, 0.0f), ov_values = ov_tokens;
        auto qk_tokens = ov_tokens, qk_values = ov_tokens, dest_tokens = ov_tokens, dest_values = ov_tokens;
        auto qk_pos = Array<float>::filled({uL, uH, uint64_t(P), uint64_t(P)}, 0.0f);
        Matrix diag(L, H);
        for (int l = 0; l < L; ++l)
            for (int h = 0; h < H; ++h) {
                const Matrix ov_full = m.W_E * OV(l, h) * m.W_U;                        // [V, V]
                const Matrix qk_full = m.W_E * QK(l, h) * m.W_E.transpose() / scale;    // [V query, V key]
                top_k_rows(ov_full, l, h, ov_tokens, ov_values);
                top_k_rows(qk_full, l, h, qk_tokens, qk_values);
                top_k_rows(qk_full.transpose(), l, h, dest_tokens, dest_values);  // top queries per key
                int self = 0;
                for (int t = 0; t < V; ++t) {
                    Eigen::Index best = 0;
                    ov_full.row(t).maxCoeff(&best);
                    self += best == t;
                }
                diag(l, h) = float(self) / float(V);
                const Matrix pos = m.W_pos.topRows(P);
                const Matrix qk_p = pos * QK(l, h) * pos.transpose() / scale;  // [P, P]
                for (int i = 0; i < P; ++i)
                    for (int j = 0; j < P; ++j) qk_pos.at({l, h, i, j}) = qk_p(i, j);
            }
        w.write("/circuits/ov_top_tokens", ov_tokens);
        w.write("/circuits/ov_top_values", ov_values);
        w.write("/circuits/qk_top_tokens", qk_tokens);
        w.write("/circuits/qk_top_values", qk_values);
        w.write("/circuits/skip_trigram_dest_tokens", dest_tokens);
        w.write("/circuits/skip_trigram_dest_values", dest_values);
        w.write_matrix("/circuits/ov_diag_top1", diag);
        w.write("/circuits/qk_pos", qk_pos);
    }
    if (o.groups.count("eigen")) {
        const auto dh = static_cast<std::uint64_t>(m.cfg.d_head);
        Array<float> re{{uL, uH, dh}, {}}, im = re, qk_re = re, qk_im = re;
        Matrix ov_copying(L, H), qk_copying(L, H);
        for (int l = 0; l < L; ++l)
            for (int h = 0; h < H; ++h) {
                const auto& a = head(l);
                // eig(W_E W_V W_O W_U) = eig((W_O W_U)(W_E W_V)) ∪ {0}
                const Matrix core = (a.W_O[size_t(h)] * m.W_U) * (m.W_E * a.W_V[size_t(h)]);  // [d_head, d_head]
                const Eigen::VectorXcd eig = Eigen::EigenSolver<Eigen::MatrixXd>(core.cast<double>()).eigenvalues();
                for (const auto& v : eig) re.data.push_back(float(v.real())), im.data.push_back(float(v.imag()));
                ov_copying(l, h) = float(copying_score(eig));
                const Matrix qk_core = (m.W_E * a.W_K[size_t(h)]).transpose() * (m.W_E * a.W_Q[size_t(h)]);
                const Eigen::VectorXcd qk_eig = Eigen::EigenSolver<Eigen::MatrixXd>(qk_core.cast<double>()).eigenvalues();
                for (const auto& v : qk_eig) qk_re.data.push_back(float(v.real())), qk_im.data.push_back(float(v.imag()));
                qk_copying(l, h) = float(copying_score(qk_eig));
            }
        w.write("/eigen/ov_eigenvalues_re", re);
        w.write("/eigen/ov_eigenvalues_im", im);
        w.write("/eigen/qk_eigenvalues_re", qk_re);
        w.write("/eigen/qk_eigenvalues_im", qk_im);
        w.write_matrix("/eigen/ov_copying", ov_copying);
        w.write_matrix("/eigen/qk_copying", qk_copying);
    }
    if (o.groups.count("composition")) {
        const double mean = 1.0 / std::sqrt(double(m.cfg.d_model)), std = 0.02;
        w.create_group("/composition");
        for (const char* kind : {"q", "k", "v"}) {
            auto raw = Array<float>::filled({uL, uH, uL, uH}, std::nanf("")), z = raw;
            for (int l1 = 0; l1 < L; ++l1)
                for (int h1 = 0; h1 < H; ++h1)
                    for (int l2 = l1 + 1; l2 < L; ++l2)
                        for (int h2 = 0; h2 < H; ++h2) {
                            const Matrix Y = kind[0] == 'q' ? QK(l2, h2) : kind[0] == 'k' ? Matrix(QK(l2, h2).transpose()) : OV(l2, h2);
                            const double s = composition_score(OV(l1, h1), Y);
                            raw.at({l1, h1, l2, h2}) = float(s);
                            z.at({l1, h1, l2, h2}) = float((s - mean) / std);
                        }
            w.write(std::string("/composition/") + kind, raw);
            w.write(std::string("/composition/") + kind + "_z", z);
            w.attr("/composition", std::string(kind) + "_baseline_mean", mean);
            w.attr("/composition", std::string(kind) + "_baseline_std", std);
        }
    }
    if (o.groups.count("path")) {
        w.create_group("/path");
        w.attr("/path", "direct_norm", double((m.W_E * m.W_U).norm()));
        Matrix head_norm(L, H);
        auto virt = Array<float>::filled({uL, uH, uL, uH}, std::nanf(""));
        for (int l = 0; l < L; ++l)
            for (int h = 0; h < H; ++h) head_norm(l, h) = (m.W_E * OV(l, h) * m.W_U).norm();
        for (int l1 = 0; l1 < L; ++l1)
            for (int h1 = 0; h1 < H; ++h1)
                for (int l2 = l1 + 1; l2 < L; ++l2)
                    for (int h2 = 0; h2 < H; ++h2) virt.at({l1, h1, l2, h2}) = (m.W_E * OV(l1, h1) * OV(l2, h2) * m.W_U).norm();
        w.write_matrix("/path/head_norm", head_norm);
        w.write("/path/virtual_norm", virt);
        Array<double> loss{{3}, {3.2188, 1.5, 0.4125}};
        w.write("/path/order_loss", loss);
        w.attr("/path", "real_loss", 0.3906);
    }
    if (o.groups.count("induction")) {
        // Probe scores as planted: L0H0 previous-token, L1H0 induction and copying.
        Matrix prev(L, H), dup(L, H), ind(L, H), copy(L, H), mech(L, H);
        prev << 0.9731f, 0.0625f, 0.0412f, 0.0588f;
        dup << 0.0107f, 0.0571f, 0.0214f, 0.0493f;
        ind << 0.0118f, 0.0633f, 0.9375f, 0.0541f;
        copy << -0.0312f, 0.0123f, 0.8842f, -0.0007f;
        mech << 0.0f, 0.0f, 2.125f, 0.0031f;
        w.write_matrix("/induction/prev_token", prev);
        w.write_matrix("/induction/duplicate_token", dup);
        w.write_matrix("/induction/induction", ind);
        w.write_matrix("/induction/copying_eval", copy);
        w.write_matrix("/induction/mechanistic", mech);
        Array<std::uint8_t> is_ind{{uL, uH}, {0, 0, 1, 0}}, is_prev{{uL, uH}, {1, 0, 0, 0}}, is_copy{{uL, uH}, {0, 0, 1, 0}};
        w.write("/induction/is_induction_head", is_ind);
        w.write("/induction/is_prev_token_head", is_prev);
        w.write("/induction/is_copying_head", is_copy);
        w.attr("/induction", "induction_threshold", 0.4);
        w.attr("/induction", "is_induction_head_rule", "induction >= 0.4 and ov_copying > 0");
        w.attr("/induction", "is_prev_token_head_rule", "prev_token >= 0.4");
    }
    w.close();
    return f;
}

}  // namespace circuits::test
