// The table of kernels one instruction set provides. core/isa_kernels.cpp is compiled once per
// ISA and each copy defines fastoptim::<isa>::table(); dispatch.cpp picks one at import. The
// rows of the table are the registered rules (cpp/rules/*.hpp, listed by CMake in
// rule_names.hpp), in that list's order.
#pragma once
#include <cstddef>
#include <cstdint>

#include "core/rule_types.hpp"
#include "matrix/adafactor_types.hpp"
#include "matrix/lamb_types.hpp"
#include "rule_names.hpp"  // generated: FASTOPTIM_RULES(X), one X(name) per cpp/rules/<name>.hpp

namespace fastoptim {

#define FASTOPTIM_COUNT_RULE(name) +1
constexpr int kNumRules = 0 FASTOPTIM_RULES(FASTOPTIM_COUNT_RULE);
#undef FASTOPTIM_COUNT_RULE

using GradStatsFn = void (*)(const void* grad, std::size_t n, double* lanes, double* bad);
using ProbeFn = void (*)(float* const* rw, int n_rw, const float* g, std::size_t n);
using EmaFn = void (*)(void* avg, const void* param, std::size_t n, double decay, bool copy);
using MuonMomentumFn = void (*)(void* buf, const void* grad, void* update, std::size_t n, double momentum,
                                bool nesterov);
using MuonApplyFn = void (*)(void* param, const void* update, std::size_t n, double decay, double neg_lr);

// Muon's element-wise passes (matrix/muon.hpp), by the params' dtype and the update's storage:
// [dtype][0] bfloat16 bits (fastoptim.torch), [dtype][1] bfloat16 values in float32 (NumPy API).
struct MuonKernels {
  MuonMomentumFn momentum[kNumDtypes][2];
  MuonApplyFn apply[kNumDtypes][2];
  void (*blend_bf16)(float* out, const float* prod, const float* base, std::size_t n, double alpha, double beta);
  void (*div_bf16)(float* x, std::size_t n, double divisor);
};

// One rule's kernels in one ISA copy; null where the rule lacks the format.
struct RuleKernels {
  MakeScalarsFn make_scalars;
  KernelFn plain[kNumDtypes];
  // float32 master and state, 16-bit grads and params; params written rounded to nearest even
  // (0) or, for bfloat16, stochastically (1; float16 params are always rounded to nearest even).
  KernelFn mixed[kNumLowDtypes][2];
  // bfloat16 state with float32 params (index 0) or with 16-bit params and float32 masters
  // (1 + LowDtype); rounding of state (and bfloat16 params) to nearest even (0) or stochastic (1).
  KernelFn bf16_state[1 + kNumLowDtypes][2];
  Block8Fn block8;
};

struct IsaTable {
  const char* name;
  RuleKernels rule[kNumRules];
  void (*narrow[kNumLowDtypes])(const float* in, std::uint16_t* out, std::size_t n);
  void (*widen[kNumLowDtypes])(const std::uint16_t* in, float* out, std::size_t n);
  GradStatsFn grad_stats_low[kNumLowDtypes];
  GradStatsFn grad_stats[kNumDtypes];
  ProbeFn probe;
  EmaFn ema[kNumDtypes];  // averages of weights (core/ema.hpp)
  MuonKernels muon;       // Muon's passes around Newton–Schulz (matrix/muon.hpp)
  AdafactorKernels adafactor[kNumDtypes];  // matrix/adafactor_kernels.hpp
  LambKernels lamb[kNumDtypes];            // matrix/lamb_kernels.hpp
  LambProbeFn lamb_probe;                  // the probe of LAMB's byte shapes
};

#define FASTOPTIM_DECLARE_ISA(ns) \
  namespace ns {                  \
  const IsaTable& table();        \
  }

FASTOPTIM_DECLARE_ISA(baseline)
#if defined(__x86_64__) || defined(_M_X64)
FASTOPTIM_DECLARE_ISA(avx2)
FASTOPTIM_DECLARE_ISA(avx512)
namespace avx512 {
const IsaTable& table_bf16();  // avx512 with AVX512_BF16 (core/isa_kernels.cpp)
}
#endif
#undef FASTOPTIM_DECLARE_ISA

}  // namespace fastoptim
