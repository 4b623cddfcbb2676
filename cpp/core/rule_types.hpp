// The vocabulary every update rule is described in (cpp/rules/<rule>.hpp): its hyperparameters
// and how each is validated, its option switches, its state buffers and per-step scalar state,
// and what a kernel looks like. Plain data and function-pointer types only: included everywhere,
// including the per-ISA kernel copies.
#pragma once
#include <cstddef>
#include <cstdint>

namespace fastoptim {

enum Dtype : int { kF32 = 0, kF64 = 1, kNumDtypes };
// 16-bit formats of mixed precision: params and grads in these, float32 master and state.
enum LowDtype : int { kF16 = 0, kBF16 = 1, kNumLowDtypes };

constexpr int kMaxHyper = 8;        // hyperparameters of a rule, as doubles
constexpr int kMaxOptions = 2;      // boolean switches besides maximize (nesterov, decoupled...)
constexpr int kMaxState = 3;        // per-element state buffers
constexpr int kMaxScalarState = 2;  // per-group scalars carried from step to step (NAdam's mu_product)
// Streams per element: param, grad, the state buffers, and in mixed precision the 16-bit copy
// of the param written from the updated float32 master.
constexpr int kMaxStreams = 2 + kMaxState + 1;
constexpr int kOutStream = kMaxStreams - 1;

// How a hyperparameter is checked before any step (all must be finite).
enum class Range {
  kFinite,       // any finite value
  kNonNegative,  // >= 0
  kUnitOpen,     // [0, 1)
  kUnitClosed,   // [0, 1]
};
struct HyperSpec {
  const char* name;  // the Python-side name used in error messages ("betas[0]")
  Range range;
};

// What a state buffer holds; decides how an 8-bit copy would code it and how test drivers fill it.
enum class StateKind {
  kSigned,       // moments and momentum buffers: either sign
  kNonNegative,  // sums and averages of squares, step sizes
  kCentered,     // a signed mean whose square another state bounds (RMSprop's grad_avg)
};
struct StateSpec {
  const char* name;  // torch's state key
  StateKind kind;
};

// State formats a rule's kernels come in (bit set).
enum Formats : unsigned {
  kFormatPlain = 1u,      // float32 and float64 params and state
  kFormatMixed = 2u,      // float16/bfloat16 params and grads with float32 masters
  kFormatBf16State = 4u,  // bfloat16 state (with float32 params or masters)
  kFormatBlock8 = 8u,     // 8-bit block-wise state (the rule provides block8(); float32 params)
};

// Everything about a rule that is data. Arrays end at the first null name.
struct RuleSpec {
  const char* name;
  HyperSpec hyper[kMaxHyper];
  const char* options[kMaxOptions];
  StateSpec state[kMaxState];
  const char* scalar_state[kMaxScalarState];
  unsigned formats;
};

// Counts of a spec's arrays (they end at the first null name).
constexpr int count_hyper(const RuleSpec& s) {
  int n = 0;
  while (n < kMaxHyper && s.hyper[n].name) ++n;
  return n;
}
constexpr int count_options(const RuleSpec& s) {
  int n = 0;
  while (n < kMaxOptions && s.options[n]) ++n;
  return n;
}
constexpr int count_state(const RuleSpec& s) {
  int n = 0;
  while (n < kMaxState && s.state[n].name) ++n;
  return n;
}
constexpr int count_scalar_state(const RuleSpec& s) {
  int n = 0;
  while (n < kMaxScalarState && s.scalar_state[n]) ++n;
  return n;
}

// Structure fixed for the lifetime of a plan: maximize, the rule's options, and which of its
// state buffers are present (optional ones such as SGD's momentum buffer or AMSGrad's maximum
// are how a plan knows those variants).
struct RuleFlags {
  bool maximize = false;
  bool option[kMaxOptions] = {false, false};
  bool state_present[kMaxState] = {false, false, false};
};

// Per-group scalars a rule carries from step to step, read before and written after a step;
// stored(k, x) is x as the caller's storage holds it (float32 rounding for a float32 scalar),
// so that a rule can use the value that will be stored, as torch does with its state tensors.
struct ScalarState {
  double value[kMaxScalarState] = {0.0, 0.0};
  bool single[kMaxScalarState] = {false, false};  // stored as float32
  double stored(int k, double x) const { return single[k] ? double(float(x)) : x; }
};

// A hyperparameter set that exercises the rule's branches (for the digest driver and C++ tests).
struct RuleExample {
  double h[kMaxHyper];
  bool maximize;
  bool option[kMaxOptions];
  bool state_present[kMaxState];
};

// Per-step scalars of a rule, computed once per step in double by its scalars() and handed to
// its kernels; opaque outside the rule's own translation-unit copy.
struct alignas(16) ScalarsBuffer {
  unsigned char bytes[256];
};

// first: index of the first element among all elements of the step (drives stochastic rounding
// of bfloat16 state so that it does not depend on how elements are shared out to threads);
// key: that rounding's per-step random key.
using KernelFn = void (*)(const void* scalars, void* const* streams, std::size_t n, std::size_t first,
                          std::uint32_t key);
// Validates what the generic range checks cannot (relations, structure); throws
// std::invalid_argument naming the hyperparameter or state.
using CheckFn = void (*)(const double* h, const RuleFlags& f);
// Fills `out` with the step's scalars; `state` is read and its new values written.
using MakeScalarsFn = void (*)(const double* h, const RuleFlags& f, std::int64_t step, double gmul,
                               ScalarState& state, ScalarsBuffer& out);

// A run of consecutive blocks of 256 elements (the last may be shorter) of one float32 tensor
// with 8-bit block-wise state: per quantized state stream (unused: null) the codes and the
// scales, both at the run's first block. The stochastic rounding of block j of tensor t is keyed
// by block_key(step_key, t, j) (core/hash32.hpp), so the bits do not depend on how blocks are
// split into runs.
struct Block8Run {
  float* p;
  const float* g;
  std::uint8_t* codes[kMaxState];
  float* scale[kMaxState];
  std::size_t n;              // elements in the run
  std::uint32_t step_key;     // this step's random key
  std::uint32_t tensor;       // index of the tensor in the plan
  std::uint32_t first_block;  // index of the run's first block within the tensor
};
using Block8Fn = void (*)(const void* scalars, const Block8Run& run);
constexpr std::size_t kBlock8Size = 256;

}  // namespace fastoptim
