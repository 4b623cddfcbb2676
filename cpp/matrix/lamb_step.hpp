// One LAMB step (pytorch_optimizer.Lamb's semantics) over many tensors, in two parallel passes
// over fixed blocks of all tensors' elements (three with pre_norm, one for tensors whose trust
// ratio is fixed at 1):
//   [pass 0: read g               → the global gradient norm (pre_norm only)]
//   pass 1:  read p, g, m, v; write m, v → ‖p'‖², ‖u‖² per tensor   (adam mode: also write p)
//   (per tensor: trust = min(‖p'‖, clamp)/(‖u‖ + eps), 1 where either norm is 0)
//   pass 2:  read p, m, v; write p        (u recomputed from m, v: the same bits as in pass 1)
// Blocks depend only on the shapes and partial sums are added in block order: the same bits
// for any thread count and ISA. Inputs are validated by the caller (bindings/register_lamb.cpp).
#pragma once
#include <cstddef>
#include <vector>

#include "core/buffers.hpp"
#include "core/rule_types.hpp"

namespace fastoptim {

// One parameter group's options.
struct LambHyper {
  double lr, beta1, beta2, eps, weight_decay, clamp;
  bool weight_decouple, fixed_decay, grad_averaging, adam, adam_debias, always_adapt, maximize;
  Counter counter;  // the group's step count (advanced once per step, after the passes)
};

struct LambTensor {
  Dtype dtype;
  void* param;
  const void* grad;
  void* exp_avg;
  void* exp_avg_sq;
  void* norms;  // 3 values of the dtype, written: weight_norm, adam_norm, trust_ratio
  std::size_t numel;
  int hyper;  // index into the hyperparameter list
};

// pre_norm: the gradients are scaled by min(max_grad_norm/(‖g‖ + eps), 1), ‖g‖ over all of them.
struct LambPreNorm {
  bool enabled = false;
  double max_grad_norm = 0.0, eps = 0.0;
};

// Elements of a block (a tensor's last block may be shorter).
constexpr std::size_t kLambBlock = std::size_t(1) << 16;

// Steps every tensor; the caller has released the GIL. Never throws after the first write.
// Returns the pre-norm scale applied to the gradients (1 without pre_norm). pass_seconds, when
// not null, receives the wall time of passes 0, 1 and 2 (0 for a pass not made): benchmarks.
double lamb_step(const std::vector<LambTensor>& tensors, const std::vector<LambHyper>& hypers, const LambPreNorm& pre,
                 double* pass_seconds = nullptr);

}  // namespace fastoptim
