// Per-step scalars handed to the kernels.
//
// Everything that does not vary per element (bias corrections, step sizes, the gradient
// multiplier of the clip/unscale pipeline) is computed once per step, in double, by
// rules.cpp. The kernels only convert these to the element type and run the element loop.
// This header holds plain data only: it is included by every per-ISA translation unit.
#pragma once

namespace fastoptim {

// Gradient multiplier: g_used = gmul * g_stored, where
//   gmul = (maximize ? -1 : 1) * clip_coef / grad_scale.
// When no scaling, clipping or maximize is requested gmul == 1 and the product is exact.

struct SgdScalars {
  double gmul, lr, momentum, dampening, weight_decay;
  bool has_momentum, nesterov, first_step;
};

struct AdagradScalars {
  double gmul, clr, weight_decay, eps;  // clr = lr / (1 + (t - 1) * lr_decay)
};

struct RmspropScalars {
  double gmul, lr, alpha, eps, weight_decay, momentum;
  bool centered, has_momentum;
};

struct AdamScalars {
  double gmul, lr, beta1, beta2, eps, weight_decay;
  double step_size;             // lr / (1 - beta1^t)
  double bias_correction2_sqrt; // sqrt(1 - beta2^t)
  bool decoupled, amsgrad;      // AdamW-style weight decay; keep max of second moments
};

}  // namespace fastoptim
