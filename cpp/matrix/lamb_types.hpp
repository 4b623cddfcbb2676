// The per-ISA kernels of LAMB (pytorch_optimizer.Lamb's semantics): a row of every IsaTable
// (core/isa_table.hpp), one per dtype. The kernels are in matrix/lamb_kernels.hpp, the step that
// drives them (blocks, threads, per-tensor trust ratios) in matrix/lamb_step.cpp.
//
// Every sum of squares is accumulated in double in 16 fixed lanes (an element's lane is its
// offset in its block mod 16) over blocks fixed by the shapes alone: the bits depend on neither
// the thread count nor the ISA.
#pragma once
#include <cstddef>

namespace fastoptim {

// One tensor's per-step scalars, in double (the kernels round each once to the dtype).
struct LambElementScalars {
  double gmul;             // ±1, times the pre-norm scale: G = gmul·g
  double beta1, beta3;     // m = β1·m + β3·G   (β3 = 1 − β1 with grad_averaging, else 1)
  double beta2, one_minus_beta2;
  double eps;
  double decay;            // decoupled weight decay: p ← decay·p (1 − wd·lr, or 1 − wd when fixed)
  double weight_decay;     // coupled weight decay: u += wd·p
  double coef;             // the apply: p ← p + coef·u   (coef = −step_size·trust)
  bool decouple, coupled;  // which weight decay (at most one; neither when wd = 0)
};

struct LambKernels {
  // Pass 1: m, v updated from G; p_lanes += p'², u_lanes += u² with p' the (decayed) param and
  // u = m/(√v + eps) (+ wd·p coupled). With `apply` (trust ratio 1: adam mode) the param is
  // also written, p ← p' + coef·u, and the step is this one pass.
  void (*moments)(void* p, const void* g, void* m, void* v, std::size_t n, const LambElementScalars& s, bool apply,
                  double* p_lanes, double* u_lanes);
  // Pass 2: p ← p' + coef·u, u recomputed from the m and v pass 1 wrote (same bits).
  void (*apply)(void* p, const void* m, const void* v, std::size_t n, const LambElementScalars& s);
};

// The streaming probe of LAMB's two byte shapes (float32): n_rw read-write streams a_k and two
// read-only streams r0, r1:  a_k[i] = c·a_k[i] + (r0[i] + r1[i]).
using LambProbeFn = void (*)(float* const* rw, int n_rw, const float* r0, const float* r1, std::size_t n);

}  // namespace fastoptim
