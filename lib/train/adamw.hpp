// AdamW with linear warm-up and cosine decay, over the flat parameter layout.
#pragma once

#include "lib/train/params.hpp"

#include <vector>

namespace circuits::train {

struct AdamWOptions {
    double lr = 1e-3;           // peak learning rate
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 0.01;  // decoupled; applied to slots marked `decay` only
    int warmup_steps = 0;        // linear warm-up from lr / warmup_steps to lr
    int total_steps = 1;         // cosine decay ends here
    double min_lr_ratio = 0.1;   // the learning rate at total_steps, as a fraction of lr (1 = no decay)
    double grad_clip = 1.0;      // global gradient norm limit; 0 = no clipping
};

// The learning rate of step `step` (1-based): step / warmup * lr during warm-up, then
// min + (lr - min) (1 + cos(pi u)) / 2 with u the fraction of the post-warm-up steps done.
double learning_rate(const AdamWOptions& options, int step);

// Adam moments with decoupled weight decay, as torch.optim.AdamW:
//   p <- p - lr wd p (decay slots);  m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
//   p <- p - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
class AdamW {
public:
    AdamW(const Params<float>& params, const AdamWOptions& options);
    // Clips `grad` in place (when grad_clip > 0), applies step `step` (1-based) and returns the
    // gradient norm before clipping.
    double step(Params<float>& params, Params<float>& grad, int step);
    const AdamWOptions& options() const { return m_options; }
    // The moments, for saving and restoring a run (the step count is the caller's).
    const std::vector<float>& first_moment() const { return m_m; }
    const std::vector<float>& second_moment() const { return m_v; }
    // Throws Error when the sizes differ from the parameter count.
    void set_moments(std::vector<float> m, std::vector<float> v);

private:
    AdamWOptions m_options;
    std::vector<float> m_m, m_v;
    std::vector<unsigned char> m_decay;  // per entry of the flat array
};

}  // namespace circuits::train
