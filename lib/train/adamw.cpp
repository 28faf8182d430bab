// AdamW update and the warm-up + cosine learning-rate schedule.
#include "lib/train/adamw.hpp"

#include "lib/error.hpp"

#include <cmath>
#include <string>
#include <utility>

namespace circuits::train {

double learning_rate(const AdamWOptions& o, int step) {
    if (o.warmup_steps > 0 && step <= o.warmup_steps)
        return o.lr * static_cast<double>(step) / static_cast<double>(o.warmup_steps);
    const int decay_steps = o.total_steps - o.warmup_steps;
    if (decay_steps <= 0) return o.lr;
    const double u = std::min(1.0, static_cast<double>(step - o.warmup_steps) / static_cast<double>(decay_steps));
    const double min_lr = o.lr * o.min_lr_ratio;
    return min_lr + (o.lr - min_lr) * 0.5 * (1.0 + std::cos(M_PI * u));
}

AdamW::AdamW(const Params<float>& p, const AdamWOptions& o) : m_options(o) {
    if (!(o.lr > 0.0) || !(o.beta1 >= 0.0 && o.beta1 < 1.0) || !(o.beta2 >= 0.0 && o.beta2 < 1.0) || !(o.eps > 0.0) ||
        !(o.weight_decay >= 0.0) || o.warmup_steps < 0 || o.total_steps < 1 || !(o.min_lr_ratio >= 0.0) ||
        !(o.grad_clip >= 0.0))
        throw Error("AdamW: invalid options (need lr > 0, betas in [0, 1), eps > 0, weight_decay >= 0, "
                    "warmup >= 0, total_steps >= 1, min_lr_ratio >= 0, grad_clip >= 0)");
    m_m.assign(p.data().size(), 0.0f);
    m_v.assign(p.data().size(), 0.0f);
    m_decay.assign(p.data().size(), 0);
    for (const auto& s : p.slots())
        if (s.decay)
            std::fill(m_decay.begin() + s.offset, m_decay.begin() + s.offset + s.rows * s.cols, static_cast<unsigned char>(1));
}

double AdamW::step(Params<float>& params, Params<float>& grad, int step) {
    auto& p = params.data();
    auto& g = grad.data();
    if (g.size() != p.size() || p.size() != m_m.size())
        throw Error("AdamW::step: parameter and gradient sizes do not match the optimiser's");
    double sq = 0.0;
    for (float x : g) sq += static_cast<double>(x) * x;
    const double norm = std::sqrt(sq);
    if (m_options.grad_clip > 0.0 && norm > m_options.grad_clip) {
        const auto f = static_cast<float>(m_options.grad_clip / norm);
        for (float& x : g) x *= f;
    }
    const double lr = learning_rate(m_options, step);
    const auto b1 = static_cast<float>(m_options.beta1), b2 = static_cast<float>(m_options.beta2);
    const auto c1 = static_cast<float>(1.0 / (1.0 - std::pow(m_options.beta1, step)));
    const auto c2 = static_cast<float>(1.0 / (1.0 - std::pow(m_options.beta2, step)));
    const auto lr_f = static_cast<float>(lr), eps = static_cast<float>(m_options.eps);
    const auto shrink = static_cast<float>(1.0 - lr * m_options.weight_decay);
    for (size_t i = 0; i < p.size(); ++i) {
        if (m_decay[i]) p[i] *= shrink;
        m_m[i] = b1 * m_m[i] + (1.0f - b1) * g[i];
        m_v[i] = b2 * m_v[i] + (1.0f - b2) * g[i] * g[i];
        p[i] -= lr_f * (m_m[i] * c1) / (std::sqrt(m_v[i] * c2) + eps);
    }
    return norm;
}

void AdamW::set_moments(std::vector<float> m, std::vector<float> v) {
    if (m.size() != m_m.size() || v.size() != m_v.size())
        throw Error("AdamW: moments of " + std::to_string(m.size()) + " and " + std::to_string(v.size()) +
                    " entries for " + std::to_string(m_m.size()) + " parameters");
    m_m = std::move(m);
    m_v = std::move(v);
}

}  // namespace circuits::train
