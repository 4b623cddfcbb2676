// The table of kernels one instruction set provides. isa_kernels.cpp is compiled once per ISA
// and each copy defines fastoptim::<isa>::table(); dispatch.cpp picks one at import.
#pragma once
#include <cstddef>
#include <cstdint>

namespace fastoptim {

enum Rule : int { kSgd = 0, kAdagrad, kRmsprop, kAdam, kNumRules };
enum Dtype : int { kF32 = 0, kF64 = 1, kNumDtypes };
// 16-bit formats of mixed precision: params and grads in these, float32 master and state.
enum LowDtype : int { kF16 = 0, kBF16 = 1, kNumLowDtypes };

// Up to six streams per element: param, grad, up to three state buffers, and in mixed
// precision the low-precision copy of the param written from the updated float32 master.
constexpr int kMaxStreams = 6;
constexpr int kOutStream = 5;

// first: index of the first element among all elements of the step (drives stochastic rounding
// of bfloat16 state so that it does not depend on how elements are shared out to threads);
// key: that rounding's per-step random key.
using KernelFn = void (*)(const void* scalars, void* const* streams, std::size_t n, std::size_t first,
                          std::uint32_t key);
using GradStatsFn = void (*)(const void* grad, std::size_t n, double* lanes, double* bad);
using ProbeFn = void (*)(float* const* rw, int n_rw, const float* g, std::size_t n);

// A run of consecutive blocks of 256 elements (the last may be shorter) of one float32 tensor
// with 8-bit block-wise state: per quantized state stream (order as in rules.cpp; unused:
// null) the codes and the scales, both at the run's first block. The stochastic rounding of
// block j of tensor t is keyed by block_key(step_key, t, j) (kernels/hash32.hpp), so the bits
// do not depend on how blocks are split into runs.
struct Block8Run {
  float* p;
  const float* g;
  std::uint8_t* codes[3];
  float* scale[3];
  std::size_t n;            // elements in the run
  std::uint32_t step_key;   // this step's random key
  std::uint32_t tensor;     // index of the tensor in the plan
  std::uint32_t first_block;  // index of the run's first block within the tensor
};
using Block8Fn = void (*)(const void* scalars, const Block8Run& run);
constexpr std::size_t kBlock8Size = 256;

struct IsaTable {
  const char* name;
  KernelFn kernel[kNumRules][kNumDtypes];
  // float32 master and state, 16-bit grads and params; params written rounded to nearest even
  // (0) or, for bfloat16, stochastically (1; float16 params are always rounded to nearest even).
  KernelFn mixed[kNumRules][kNumLowDtypes][2];
  // bfloat16 state with float32 params (index 0) or with 16-bit params and float32 masters
  // (1 + LowDtype); rounding of state (and bfloat16 params) to nearest even (0) or stochastic (1).
  KernelFn bf16_state[kNumRules][1 + kNumLowDtypes][2];
  void (*narrow[kNumLowDtypes])(const float* in, std::uint16_t* out, std::size_t n);
  void (*widen[kNumLowDtypes])(const std::uint16_t* in, float* out, std::size_t n);
  GradStatsFn grad_stats_low[kNumLowDtypes];
  GradStatsFn grad_stats[kNumDtypes];
  ProbeFn probe;
  Block8Fn block8[kNumRules];  // null where the rule has no 8-bit state variant (Adagrad)
};

#define FASTOPTIM_DECLARE_ISA(ns) \
  namespace ns {                  \
  const IsaTable& table();        \
  }

FASTOPTIM_DECLARE_ISA(baseline)
#if defined(__x86_64__) || defined(_M_X64)
FASTOPTIM_DECLARE_ISA(avx2)
FASTOPTIM_DECLARE_ISA(avx512)
#endif
#undef FASTOPTIM_DECLARE_ISA

}  // namespace fastoptim
