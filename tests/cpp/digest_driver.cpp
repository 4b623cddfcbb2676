// Bit digests of every kernel, for proving that every ISA copy and every architecture computes
// the same bits (issue 17). A standalone program: no Python, no pybind11; it links the per-ISA
// kernel objects, dispatch.cpp and rule_registry.cpp exactly as fastoptim._core does (CMake target
// fastoptim_digest_driver, option FASTOPTIM_BUILD_DIGEST_DRIVER).
//
// For each ISA table compiled in that this CPU runs (dispatch.cpp's own detection: x86-64
// baseline, avx2, avx512; elsewhere baseline), it steps every rule in every state format the
// table offers:
//   f32, f64                          plain kernels (kernel[rule][dtype])
//   f16-params[-sr], bf16-params[-sr] 16-bit params and grads, float32 masters (mixed[...])
//   bf16-state[-sr], f16-params+bf16-state[-sr], bf16-params+bf16-state[-sr]   (bf16_state[...])
//   8bit                              block-wise 8-bit state (block8[rule], where the rule has it)
// on fixed inputs made by an integer hash (normal values, tiny and huge magnitudes, subnormals,
// signed zeros), over tensors of 1, 7, 33, 1000 and 4099 elements (scalar-only, vector body
// plus tail, several 256-element blocks plus a partial one), each at a different misalignment.
// Each rule runs the hyperparameter sets its header lists as `examples` (momentum,
// dampening, Nesterov, weight decay, maximize, centered, AMSGrad, AdamW, lr_decay ...), three
// steps each, half from fresh (zero) state at step 1 and half from random state resumed at a
// later step, with a different gradient multiplier (unscale / clip) per step. Scalars come from
// make_scalars and kernels are called per tensor as StepPlan::apply / BlockPlan::apply call them
// (one piece per tensor, single-threaded: `first` is the tensor's offset in the plan, one 8-bit
// run per tensor; the random keys are formed as there). It also digests the bulk 16-bit
// conversions, the gradient-statistics pass and the whole-tensor optimizers' kernels (Muon,
// Adafactor, LAMB: cpp/matrix/).
//
// Output, one line per (ISA, rule, format), then one per ISA:
//   <isa> <rule> <format> <16 hex digits> nan=<count>
//   <isa> all <16 hex digits>
// Each digest is a 64-bit FNV-1a of every byte written after every step (params or masters,
// state, 16-bit params, 8-bit codes and scales), little-endian whatever the host. A NaN is
// hashed as one canonical NaN of its width and counted in nan= (the README promises NaN in the
// same elements on every ISA, not the same NaN payload); the inputs are chosen so that no
// rule's kernel line produces one, so nan=0 there (the "matrix" line's extreme inputs do make
// some, inf·0 and the like: their places are part of its digest). Lines starting with '#' are
// comments.
//
//   fastoptim_digest_driver [--isa NAME]... [--sets]
// --isa restricts to the named ISAs (each must be supported here); --sets also prints the
// hyperparameter sets as comments. Exit status 0, or 2 on a usage or setup error.
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/dispatch.hpp"
#include "core/isa_table.hpp"
#include "core/rule_registry.hpp"

namespace fastoptim {
namespace digest {
namespace {
#include "core/hash32.hpp"  // mix32: the random keys of a step, as step_plan.cpp forms them

// ---- deterministic inputs -------------------------------------------------------------------

// A counter-based 64-bit generator: value `i` of the stream named by `seed`.
std::uint64_t scramble(std::uint64_t x) {
  x ^= x >> 32;
  x *= 0xd6e8feb86659fd93ULL;
  x ^= x >> 29;
  x *= 0xa0761d6478bd642fULL;
  x ^= x >> 32;
  return x;
}
struct Stream {
  std::uint64_t key;
  explicit Stream(std::uint64_t seed) : key(scramble(seed * 0x3c6ef372fe94f82bULL + 0x510e527fade682d1ULL)) {}
  std::uint64_t at(std::uint64_t i) const { return scramble(key + i * 0x9b05688c2b3e6c1fULL); }
};
std::uint64_t seed_of(std::uint64_t a, std::uint64_t b, std::uint64_t c, std::uint64_t d) {
  return scramble(scramble(scramble(a + 1) ^ (b + 0x100)) ^ (c + 0x10000)) ^ d;
}

float f32_from(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Magnitude classes, from 4 bits of the hash: 1/16 signed zero, 1/16 subnormal (or zero),
// 1/16 tiny normal, 1/16 huge, the rest normal in [2^-14, 2^4). "Huge" stops at 2^34 (float32)
// so that squares and updates stay finite for three steps (no NaN from Inf - Inf).
std::uint32_t f32_bits(std::uint64_t h) {
  const std::uint32_t sign = std::uint32_t(h >> 63) << 31;
  const std::uint32_t mant = std::uint32_t(h) & 0x7fffffU;
  const std::uint32_t r = std::uint32_t(h >> 36) & 0xffffU;
  std::uint32_t exp;
  switch ((h >> 32) & 15U) {
    case 0: return sign;
    case 1: exp = 0; break;
    case 2: exp = 1 + r % 40; break;
    case 3: exp = 127 + 20 + r % 14; break;
    default: exp = 127 - 14 + r % 18; break;
  }
  return sign | (exp << 23) | mant;
}
std::uint64_t f64_bits(std::uint64_t h, std::uint64_t h2) {
  const std::uint64_t sign = (h >> 63) << 63;
  const std::uint64_t mant = h2 & 0xfffffffffffffULL;
  const std::uint64_t r = (h >> 36) & 0xffffU;
  std::uint64_t exp;
  switch ((h >> 32) & 15U) {
    case 0: return sign;
    case 1: exp = 0; break;
    case 2: exp = 1 + r % 200; break;
    case 3: exp = 1023 + 20 + r % 60; break;
    default: exp = 1023 - 14 + r % 18; break;
  }
  return sign | (exp << 52) | mant;
}
// float16 bits, finite: zero, subnormal, small normal, large (up to 65504), or in [2^-14, 2^4).
std::uint16_t f16_bits(std::uint64_t h) {
  const std::uint32_t sign = std::uint32_t(h >> 63) << 15;
  const std::uint32_t mant = std::uint32_t(h) & 0x3ffU;
  const std::uint32_t r = std::uint32_t(h >> 36) & 0xffffU;
  std::uint32_t exp;
  switch ((h >> 32) & 15U) {
    case 0: return std::uint16_t(sign);
    case 1: exp = 0; break;
    case 2: exp = 1 + r % 4; break;
    case 3: exp = 26 + r % 5; break;
    default: exp = 1 + r % 18; break;
  }
  return std::uint16_t(sign | (exp << 10) | mant);
}
std::uint16_t bf16_bits(std::uint64_t h) { return std::uint16_t(f32_bits(h) >> 16); }

// ---- buffers and their digest ---------------------------------------------------------------

enum class Elem { kF32, kF64, kF16, kBF16, kU8 };
std::size_t elem_size(Elem e) {
  switch (e) {
    case Elem::kF64: return 8;
    case Elem::kF32: return 4;
    case Elem::kF16:
    case Elem::kBF16: return 2;
    default: return 1;
  }
}
Elem low_elem(int low) { return low == kF16 ? Elem::kF16 : Elem::kBF16; }

// What a stream is initialized with: zeros, values of either sign, or magnitudes only.
enum class Init { kZero, kSigned, kNonNegative };

// n elements of one type, starting `skew` elements past an allocation's start (so tensors sit
// at different alignments, as arrays handed in from Python may).
class Buffer {
 public:
  Buffer(Elem elem, std::size_t n, std::size_t skew)
      : elem_(elem), n_(n), skew_(skew), bytes_((n + skew + 1) * elem_size(elem), 0) {}
  void* data() { return bytes_.data() + skew_ * elem_size(elem_); }
  Elem elem() const { return elem_; }
  std::size_t size() const { return n_; }

  void fill(Init init, const Stream& s) {
    for (std::size_t i = 0; i < n_; ++i) {
      const std::uint64_t h = init == Init::kZero ? 0 : s.at(i);
      const std::uint64_t sign_mask = init == Init::kNonNegative ? ~(1ULL << 63) : ~0ULL;
      switch (elem_) {
        case Elem::kF32: {
          const std::uint32_t u = init == Init::kZero ? 0 : f32_bits(h & sign_mask);
          std::memcpy(ptr(i), &u, 4);
          break;
        }
        case Elem::kF64: {
          const std::uint64_t u = init == Init::kZero ? 0 : f64_bits(h & sign_mask, s.at(i + n_));
          std::memcpy(ptr(i), &u, 8);
          break;
        }
        case Elem::kF16: {
          const std::uint16_t u = init == Init::kZero ? 0 : f16_bits(h & sign_mask);
          std::memcpy(ptr(i), &u, 2);
          break;
        }
        case Elem::kBF16: {
          const std::uint16_t u = init == Init::kZero ? 0 : bf16_bits(h & sign_mask);
          std::memcpy(ptr(i), &u, 2);
          break;
        }
        case Elem::kU8: *static_cast<std::uint8_t*>(ptr(i)) = std::uint8_t(h); break;
      }
    }
  }

 private:
  friend class Digest;
  void* ptr(std::size_t i) { return static_cast<unsigned char*>(data()) + i * elem_size(elem_); }
  Elem elem_;
  std::size_t n_, skew_;
  std::vector<unsigned char> bytes_;
};

// 64-bit FNV-1a over little-endian bytes; NaNs canonical (and counted).
class Digest {
 public:
  void bytes_le(std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) {
      h_ ^= (v >> (8 * i)) & 0xffU;
      h_ *= 0x100000001b3ULL;
    }
  }
  void f32(std::uint32_t u) {
    if ((u & 0x7fffffffU) > 0x7f800000U) u = 0x7fc00000U, ++nans_;
    bytes_le(u, 4);
  }
  void f64(std::uint64_t u) {
    if ((u & 0x7fffffffffffffffULL) > 0x7ff0000000000000ULL) u = 0x7ff8000000000000ULL, ++nans_;
    bytes_le(u, 8);
  }
  void f16(std::uint16_t u) {
    if ((u & 0x7fffU) > 0x7c00U) u = 0x7e00U, ++nans_;
    bytes_le(u, 2);
  }
  void bf16(std::uint16_t u) {
    if ((u & 0x7fffU) > 0x7f80U) u = 0x7fc0U, ++nans_;
    bytes_le(u, 2);
  }
  void buffer(Buffer& b) {
    const auto* p = static_cast<const unsigned char*>(b.data());
    for (std::size_t i = 0; i < b.n_; ++i, p += elem_size(b.elem_)) {
      std::uint64_t u64 = 0;
      std::uint32_t u32 = 0;
      std::uint16_t u16 = 0;
      switch (b.elem_) {
        case Elem::kF32: std::memcpy(&u32, p, 4); f32(u32); break;
        case Elem::kF64: std::memcpy(&u64, p, 8); f64(u64); break;
        case Elem::kF16: std::memcpy(&u16, p, 2); f16(u16); break;
        case Elem::kBF16: std::memcpy(&u16, p, 2); bf16(u16); break;
        case Elem::kU8: bytes_le(*p, 1); break;
      }
    }
  }
  void dbl(double x) {
    std::uint64_t u;
    std::memcpy(&u, &x, 8);
    f64(u);
  }
  std::uint64_t value() const { return h_; }
  std::uint64_t nans() const { return nans_; }

 private:
  std::uint64_t h_ = 0xcbf29ce484222325ULL;
  std::uint64_t nans_ = 0;
};

// ---- what is stepped --------------------------------------------------------------------------

constexpr std::size_t kSizes[] = {1, 7, 33, 1000, 4099};
constexpr std::size_t kNumTensors = sizeof(kSizes) / sizeof(kSizes[0]);
constexpr int kStepsPerSet = 3;
// Gradient multipliers (StepPlan::apply's gmul: 1 / grad_scale times a clip coefficient).
constexpr double kGmul[] = {1.0, 1.0 / 1024.0, 0.7310585786300049};

struct Format {
  const char* name;
  Dtype dtype;      // of params (float32 masters where low >= 0)
  int low;          // LowDtype of grads and written 16-bit params, or -1
  bool bf16_state;  // state in bfloat16
  bool stochastic;  // stochastic rounding of bfloat16 state / params
  bool eight_bit;   // block-wise 8-bit state
};
const Format kFormats[] = {
    {"f32", kF32, -1, false, false, false},
    {"f64", kF64, -1, false, false, false},
    {"f16-params", kF32, kF16, false, false, false},
    {"f16-params-sr", kF32, kF16, false, true, false},
    {"bf16-params", kF32, kBF16, false, false, false},
    {"bf16-params-sr", kF32, kBF16, false, true, false},
    {"bf16-state", kF32, -1, true, false, false},
    {"bf16-state-sr", kF32, -1, true, true, false},
    {"f16-params+bf16-state", kF32, kF16, true, false, false},
    {"f16-params+bf16-state-sr", kF32, kF16, true, true, false},
    {"bf16-params+bf16-state", kF32, kBF16, true, false, false},
    {"bf16-params+bf16-state-sr", kF32, kBF16, true, true, false},
    {"8bit", kF32, -1, false, false, true},
};

// The hyperparameter sets of a rule: its header's `examples` (values in the order of its spec,
// maximize, options, which state buffers are present), chosen there to reach every branch.
RuleFlags flags_of(const RuleExample& e) {
  RuleFlags f;
  f.maximize = e.maximize;
  for (int k = 0; k < kMaxOptions; ++k) f.option[k] = e.option[k];
  for (int k = 0; k < kMaxState; ++k) f.state_present[k] = e.state_present[k];
  return f;
}

// How each state stream starts when resumed, by its kind: signed (first moments, momentum
// buffers), non-negative (sums of squares, second moments), or zero (RMSprop's centered
// average, so that square_avg - grad_avg^2 stays >= 0 and no NaN is made).
Init resumed_init(const RuleSpec& spec, int k) {
  switch (spec.state[k].kind) {
    case StateKind::kSigned: return Init::kSigned;
    case StateKind::kNonNegative: return Init::kNonNegative;
    default: return Init::kZero;
  }
}

// 8-bit code formats (formats/blockwise8.hpp): unsigned for non-negative state (kept as its
// square root), signed otherwise.
bool code_is_signed(const RuleSpec& spec, int k) { return spec.state[k].kind != StateKind::kNonNegative; }

// Random valid 8-bit state of one stream: codes of magnitude at most 1.0 (0x78 signed, 0xf0
// unsigned), scales from the float generator (some zero); Adam's m code is 0 where u's is.
void fill_codes(Buffer& codes, Buffer& scales, bool is_signed, const Stream& s) {
  auto* c = static_cast<std::uint8_t*>(codes.data());
  for (std::size_t i = 0; i < codes.size(); ++i) {
    const std::uint64_t h = s.at(i);
    c[i] = is_signed ? std::uint8_t(((h >> 8) & 0x80U) | (h % 0x79U)) : std::uint8_t(h % 0xf1U);
  }
  auto* sc = static_cast<float*>(scales.data());
  for (std::size_t j = 0; j < scales.size(); ++j) {
    const std::uint32_t u = f32_bits(s.at(codes.size() + j) & ~(1ULL << 63));
    sc[j] = f32_from(u);
  }
}

struct Tensor {
  std::vector<Buffer> owned;  // everything allocated for this tensor
  int param = -1, grad = -1, out = -1;
  int state[kMaxState] = {-1, -1, -1};
  int codes[kMaxState] = {-1, -1, -1}, scales[kMaxState] = {-1, -1, -1};
  void* at(int i) { return i < 0 ? nullptr : owned[std::size_t(i)].data(); }
  int add(Elem e, std::size_t n, std::size_t skew) {
    owned.emplace_back(e, n, skew);
    return int(owned.size()) - 1;
  }
};

// Steps one hyperparameter set of one rule in one format; every written byte into `d`.
void run_set(const IsaTable& isa, Rule r, const Format& fmt, std::size_t set_index, Digest& d) {
  const RuleInfo& info = rule_info(r);
  const RuleExample& hs = info.examples[set_index];
  const RuleFlags flags = flags_of(hs);
  check_hyper(r, hs.h, flags);      // the checks StepPlan::load makes; a bad set here is a bug
  check_structure(r, hs.h, flags);  // of a rule's examples (std::invalid_argument, exit 2)
  const RuleSpec& spec = *info.spec;
  const bool fresh = set_index % 2 == 0;
  const std::int64_t first_step = fresh ? 1 : std::int64_t(4 + set_index);
  const std::uint32_t seed = 1000U + std::uint32_t(set_index);  // the optimizer's seed=
  const Elem pe = fmt.dtype == kF64 ? Elem::kF64 : Elem::kF32;
  const Elem ge = fmt.low >= 0 ? low_elem(fmt.low) : pe;
  const Elem se = fmt.bf16_state ? Elem::kBF16 : pe;

  std::vector<Tensor> ts(kNumTensors);
  for (std::size_t t = 0; t < kNumTensors; ++t) {
    Tensor& T = ts[t];
    const std::size_t n = kSizes[t];
    T.owned.reserve(12);
    auto skew = [&](int stream) { return (t * 5 + std::size_t(stream) * 3) % 7; };
    T.param = T.add(pe, n, skew(0));
    T.owned[std::size_t(T.param)].fill(Init::kSigned, Stream(seed_of(r, set_index, t, 0)));
    T.grad = T.add(ge, n, skew(1));
    if (fmt.low >= 0) T.out = T.add(low_elem(fmt.low), n, skew(5));
    for (int k = 0; k < info.n_state; ++k) {
      if (!flags.state_present[k]) continue;
      const Stream s(seed_of(r, set_index, t, 2 + k));
      if (fmt.eight_bit) {
        T.codes[k] = T.add(Elem::kU8, n, skew(2 + k));
        T.scales[k] = T.add(Elem::kF32, (n + kBlock8Size - 1) / kBlock8Size, skew(3 + k));
        if (!fresh) fill_codes(T.owned[std::size_t(T.codes[k])], T.owned[std::size_t(T.scales[k])],
                               code_is_signed(spec, k), s);
      } else {
        T.state[k] = T.add(se, n, skew(2 + k));
        T.owned[std::size_t(T.state[k])].fill(fresh ? Init::kZero : resumed_init(spec, k), s);
      }
    }
    // The invariant requantize_pair keeps for a (signed moment, unsigned root second moment)
    // pair such as Adam's: no first moment where the second one's code is 0.
    const bool moment_pair = info.n_state >= 2 && spec.state[0].kind == StateKind::kSigned &&
                             spec.state[1].kind == StateKind::kNonNegative;
    if (fmt.eight_bit && moment_pair && !fresh) {
      auto* m = static_cast<std::uint8_t*>(T.at(T.codes[0]));
      const auto* u = static_cast<const std::uint8_t*>(T.at(T.codes[1]));
      for (std::size_t i = 0; i < n; ++i)
        if (u[i] == 0) m[i] = 0;
    }
  }

  KernelFn kernel = nullptr;
  Block8Fn block8 = nullptr;
  const RuleKernels& kernels = isa.rule[r];
  if (fmt.eight_bit) block8 = kernels.block8;
  else if (fmt.bf16_state) kernel = kernels.bf16_state[fmt.low + 1][fmt.stochastic ? 1 : 0];
  else if (fmt.low >= 0) kernel = kernels.mixed[fmt.low][fmt.stochastic ? 1 : 0];
  else kernel = kernels.plain[fmt.dtype];
  // Scalar state (NAdam's mu_product...) as the rule starts it, kept in float32 as torch keeps
  // it, carried from step to step as StepPlan does; hashed with the buffers.
  ScalarState scalar_state;
  info.start_scalar_state(hs.h, scalar_state);
  for (int j = 0; j < info.n_scalar_state; ++j) scalar_state.single[j] = true;
  if (!kernel && !block8) throw std::logic_error("no kernel in the table");

  for (int k = 0; k < kStepsPerSet; ++k) {
    const std::int64_t step = first_step + k;
    const double gmul = kGmul[(set_index + std::size_t(k)) % 3];
    for (std::size_t t = 0; t < kNumTensors; ++t)
      ts[t].owned[std::size_t(ts[t].grad)].fill(Init::kSigned, Stream(seed_of(r, set_index, t, 100 + k)));
    ScalarsBuffer scalars_buffer;
    kernels.make_scalars(hs.h, flags, step, gmul, scalar_state, scalars_buffer);
    for (int j = 0; j < info.n_scalar_state; ++j) scalar_state.value[j] = scalar_state.stored(j, scalar_state.value[j]);
    const void* scalars = scalars_buffer.bytes;
    if (block8) {
      // BlockPlan::apply: one run per tensor (all its blocks), keyed per (seed, step, tensor, block).
      const std::uint32_t step_key = mix32(seed ^ mix32(std::uint32_t(step) ^ 0x27d4eb2dU));
      for (std::size_t t = 0; t < kNumTensors; ++t) {
        Tensor& T = ts[t];
        Block8Run run;
        run.p = static_cast<float*>(T.at(T.param));
        run.g = static_cast<const float*>(T.at(T.grad));
        for (int s = 0; s < kMaxState; ++s) {
          run.codes[s] = static_cast<std::uint8_t*>(T.at(T.codes[s]));
          run.scale[s] = static_cast<float*>(T.at(T.scales[s]));
        }
        run.n = kSizes[t];
        run.step_key = step_key;
        run.tensor = std::uint32_t(t);
        run.first_block = 0;
        block8(scalars, run);
      }
    } else {
      // StepPlan::apply: streams (param, grad, state..., 16-bit params), `first` the piece's
      // index among all elements of the plan.
      const std::uint32_t key = mix32(seed ^ mix32(std::uint32_t(step) * 0x9e3779b1U));
      std::size_t first = 0;
      for (std::size_t t = 0; t < kNumTensors; ++t) {
        Tensor& T = ts[t];
        void* streams[kMaxStreams] = {T.at(T.param), T.at(T.grad), T.at(T.state[0]),
                                      T.at(T.state[1]), T.at(T.state[2]), T.at(T.out)};
        kernel(scalars, streams, kSizes[t], first, key);
        first += kSizes[t];
      }
    }
    for (Tensor& T : ts)
      for (std::size_t i = 0; i < T.owned.size(); ++i)
        if (int(i) != T.grad) d.buffer(T.owned[i]);
    for (int j = 0; j < info.n_scalar_state; ++j) d.dbl(scalar_state.value[j]);
  }
}

// The bulk conversions: narrow() of float32 values (with +-Inf and values that round to Inf
// or to subnormals), widen() of every non-NaN 16-bit pattern.
void run_convert(const IsaTable& isa, int low, Digest& d) {
  const std::size_t n = 4099;
  std::vector<float> in(n + 1);
  const Stream s(seed_of(77, std::uint64_t(low), 0, 0));
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t h = s.at(i);
    std::uint32_t u = f32_bits(h);
    if ((h & 0xff) == 1) u = (u & 0x80000000U) | 0x7f800000U;               // +-Inf
    if ((h & 0xff) == 2) u = (u & 0x80000000U) | (0x47000000U + (u & 0xffffffU));  // near 65504
    if ((h & 0xff) == 3) u = (u & 0x80000000U) | (0x33000000U + (u & 0x1ffffffU));  // f16 subnormal
    in[i + 1] = f32_from(u);
  }
  std::vector<std::uint16_t> narrowed(n + 1);
  isa.narrow[low](in.data() + 1, narrowed.data() + 1, n);  // misaligned on purpose
  for (std::size_t i = 1; i <= n; ++i) low == kF16 ? d.f16(narrowed[i]) : d.bf16(narrowed[i]);
  std::vector<std::uint16_t> all;
  for (std::uint32_t u = 0; u < 0x10000U; ++u) {
    const bool nan = low == kF16 ? (u & 0x7fffU) > 0x7c00U : (u & 0x7fffU) > 0x7f80U;
    if (!nan) all.push_back(std::uint16_t(u));
  }
  std::vector<float> widened(all.size());
  isa.widen[low](all.data(), widened.data(), all.size());
  for (float f : widened) {
    std::uint32_t u;
    std::memcpy(&u, &f, 4);
    d.f32(u);
  }
}

// The gradient-statistics pass (sum of squares per lane, non-finite flag) of each format, per
// tensor as StepPlan::grad_stats calls it; then once more with an Inf among the gradients
// (the flag turns NaN: counted in nan=).
void run_grad_stats(const IsaTable& isa, const char* format, Digest& d) {
  const bool f64 = std::strcmp(format, "f64") == 0, f16 = std::strcmp(format, "f16") == 0;
  const bool bf16 = std::strcmp(format, "bf16") == 0;
  const Elem e = f64 ? Elem::kF64 : f16 ? Elem::kF16 : bf16 ? Elem::kBF16 : Elem::kF32;
  const GradStatsFn stats = f16 ? isa.grad_stats_low[kF16] : bf16 ? isa.grad_stats_low[kBF16]
                            : isa.grad_stats[f64 ? kF64 : kF32];
  for (int with_inf = 0; with_inf < 2; ++with_inf) {
    for (std::size_t t = 0; t < kNumTensors; ++t) {
      Buffer g(e, kSizes[t], t % 3);
      g.fill(Init::kSigned, Stream(seed_of(55, t, std::uint64_t(e), 0)));
      if (with_inf) {
        const std::size_t i = kSizes[t] / 2;
        auto* p = static_cast<unsigned char*>(g.data());
        const std::uint64_t inf64 = 0x7ff0000000000000ULL;
        const std::uint32_t inf32 = 0x7f800000U;
        const std::uint16_t inf16 = f16 ? 0x7c00U : 0x7f80U;
        if (f64) std::memcpy(p + 8 * i, &inf64, 8);
        else if (f16 || bf16) std::memcpy(p + 2 * i, &inf16, 2);
        else std::memcpy(p + 4 * i, &inf32, 4);
      }
      double lanes[16] = {}, bad = 0.0;
      stats(g.data(), kSizes[t], lanes, &bad);
      for (double x : lanes) d.dbl(x);
      d.dbl(bad);
    }
  }
}

// ---- the whole-tensor optimizers' kernels (cpp/matrix/) ------------------------------------------

// Muon's two passes (both update storages, Nesterov on and off) and its Newton–Schulz helpers,
// Adafactor's factored and unfactored passes and state update, LAMB's two passes (adam mode,
// decoupled and coupled weight decay): each called once per case on fixed inputs, every buffer
// it writes and every double it returns or accumulates digested.
void run_matrix(const IsaTable& isa, Dtype dt, Digest& d) {
  constexpr std::size_t kStatLanes = 16;  // the kernels' fixed lanes (core/grad_stats.hpp)
  const Elem e = dt == kF32 ? Elem::kF32 : Elem::kF64;
  const std::uint64_t base = dt == kF32 ? 701 : 702;
  auto filled = [&](Elem el, std::size_t n, std::size_t skew, Init init, std::uint64_t tag) {
    Buffer b(el, n, skew);
    b.fill(init, Stream{seed_of(base, tag, n, skew)});
    return b;
  };
  // Muon
  for (std::size_t n : {std::size_t(7), std::size_t(1000), std::size_t(4099)})
    for (int u = 0; u < 2; ++u)
      for (int nesterov = 0; nesterov < 2; ++nesterov) {
        Buffer buf = filled(e, n, 1, Init::kSigned, 1), g = filled(e, n, 2, Init::kSigned, 2);
        Buffer upd(u == 0 ? Elem::kBF16 : Elem::kF32, n, 3);
        isa.muon.momentum[dt][u](buf.data(), g.data(), upd.data(), n, 0.95, nesterov != 0);
        d.buffer(buf);
        d.buffer(upd);
        Buffer p = filled(e, n, 0, Init::kSigned, 3);
        isa.muon.apply[dt][u](p.data(), upd.data(), n, 1.0 - 0.02 * 0.1, -0.02 * 1.7);
        d.buffer(p);
      }
  if (dt == kF32) {
    Buffer prod = filled(Elem::kF32, 1000, 1, Init::kSigned, 4), x = filled(Elem::kF32, 1000, 2, Init::kSigned, 5);
    Buffer out(Elem::kF32, 1000, 0);
    isa.muon.blend_bf16(static_cast<float*>(out.data()), static_cast<const float*>(prod.data()),
                        static_cast<const float*>(x.data()), 1000, 2.0315, -4.775);
    isa.muon.div_bf16(static_cast<float*>(x.data()), 1000, 3.25);
    d.buffer(out);
    d.buffer(x);
  }
  // Adafactor: a matrix below the row-grouping width and one above it (rows in groups and a tail)
  const AdafactorKernels& af = isa.adafactor[dt];
  for (const auto& shape : {std::pair<std::size_t, std::size_t>{5, 37}, std::pair<std::size_t, std::size_t>{11, 2053}}) {
    const std::size_t rows = shape.first, cols = shape.second, n = rows * cols;
    Buffer p = filled(e, n, 1, Init::kSigned, 6), g = filled(e, n, 2, Init::kSigned, 7);
    Buffer rv = filled(e, rows, 0, Init::kNonNegative, 8), cv = filled(e, cols, 1, Init::kNonNegative, 9);
    Buffer ic(e, cols, 2);
    std::vector<double> row_lanes(rows * kStatLanes, 0.0), col_part(cols, 0.0), p_lanes(kStatLanes, 0.0);
    af.row_stats(p.data(), g.data(), rows, cols, cols, row_lanes.data(), col_part.data(), p_lanes.data());
    std::vector<double> row_sums(rows, 0.0);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t l = 0; l < kStatLanes; ++l) row_sums[r] += row_lanes[r * kStatLanes + l];
    for (double x : row_lanes) d.dbl(x);
    for (double x : col_part) d.dbl(x);
    for (double x : p_lanes) d.dbl(x);
    d.dbl(af.factors(rv.data(), cv.data(), ic.data(), row_sums.data(), col_part.data(), rows, cols, 0.3, 1e-30));
    d.buffer(rv);
    d.buffer(cv);
    d.buffer(ic);
    std::vector<double> lanes(kStatLanes, 0.0);
    af.row_update_sq(g.data(), rv.data(), ic.data(), 1e-60, rows, cols, cols, lanes.data());
    for (double x : lanes) d.dbl(x);
    af.row_apply(p.data(), g.data(), rv.data(), ic.data(), 1e-60, 1.0 - 1e-3, -0.01, rows, cols, cols);
    d.buffer(p);
  }
  for (std::size_t n : {std::size_t(7), std::size_t(4099)}) {
    Buffer p = filled(e, n, 1, Init::kSigned, 10), g = filled(e, n, 2, Init::kSigned, 11);
    Buffer v = filled(e, n, 3, Init::kNonNegative, 12);
    std::vector<double> p_lanes(kStatLanes, 0.0), lanes(kStatLanes, 0.0);
    af.vec_stats(p.data(), g.data(), v.data(), n, 0.3, p_lanes.data());
    af.vec_update_sq(g.data(), v.data(), 1e-60, n, lanes.data());
    af.vec_apply(p.data(), g.data(), v.data(), 1e-60, 1.0 - 1e-3, -0.01, n);
    for (double x : p_lanes) d.dbl(x);
    for (double x : lanes) d.dbl(x);
    d.buffer(v);
    d.buffer(p);
  }
  // LAMB: decoupled, coupled and no weight decay; pass 1 with and without the apply (adam mode)
  const LambKernels& lk = isa.lamb[dt];
  for (int variant = 0; variant < 4; ++variant)
    for (std::size_t n : {std::size_t(7), std::size_t(1000), std::size_t(4099)}) {
      LambElementScalars s{variant == 3 ? -0.5 : 1.0, 0.9, 0.1, 0.999, 0.001, 1e-6,
                           variant == 0 ? 1.0 - 1e-3 * 0.01 : 1.0, variant == 1 ? 0.01 : 0.0, -1e-3 * 0.8,
                           variant == 0, variant == 1};
      Buffer p = filled(e, n, 1, Init::kSigned, 13), g = filled(e, n, 2, Init::kSigned, 14);
      Buffer m = filled(e, n, 3, Init::kSigned, 15), v = filled(e, n, 0, Init::kNonNegative, 16);
      std::vector<double> p_lanes(kStatLanes, 0.0), u_lanes(kStatLanes, 0.0);
      const bool adam_mode = variant == 2;
      lk.moments(p.data(), g.data(), m.data(), v.data(), n, s, adam_mode, p_lanes.data(), u_lanes.data());
      if (!adam_mode) lk.apply(p.data(), m.data(), v.data(), n, s);
      for (double x : p_lanes) d.dbl(x);
      for (double x : u_lanes) d.dbl(x);
      d.buffer(m);
      d.buffer(v);
      d.buffer(p);
    }
}

void print_line(const char* isa, const char* rule, const char* format, const Digest& d, Digest& all) {
  std::printf("%s %s %s %016" PRIx64 " nan=%" PRIu64 "\n", isa, rule, format, d.value(), d.nans());
  all.bytes_le(d.value(), 8);
}

int run_isa(const std::string& name) {
  use_isa(name);
  const IsaTable& isa = active_isa();
  if (name != isa.name) throw std::logic_error("use_isa(" + name + ") gave table " + isa.name);
  Digest all;
  for (int r = 0; r < kNumRules; ++r) {
    const RuleInfo& info = rule_info(r);
    for (const Format& fmt : kFormats) {
      const RuleKernels& k = isa.rule[r];
      const bool offered = fmt.eight_bit ? k.block8 != nullptr
                           : fmt.bf16_state ? k.bf16_state[fmt.low + 1][0] != nullptr
                           : fmt.low >= 0   ? k.mixed[fmt.low][0] != nullptr
                                            : k.plain[fmt.dtype] != nullptr;
      if (!offered) continue;  // a format the rule does not declare (Adagrad: no 8-bit variant)
      Digest d;
      int sets = 0;
      for (std::size_t s = 0; s < std::size_t(info.n_examples); ++s) {
        if (fmt.eight_bit && !info.block8_supports(flags_of(info.examples[s]))) continue;
        run_set(isa, r, fmt, s, d);
        ++sets;
      }
      if (sets == 0) throw std::logic_error(std::string("no hyperparameter set for ") + fmt.name);
      print_line(isa.name, info.spec->name, fmt.name, d, all);
    }
  }
  for (int low = 0; low < kNumLowDtypes; ++low) {
    Digest d;
    run_convert(isa, low, d);
    print_line(isa.name, "convert", low == kF16 ? "f16" : "bf16", d, all);
  }
  for (Dtype dt : {kF32, kF64}) {
    Digest d;
    run_matrix(isa, dt, d);
    print_line(isa.name, "matrix", dt == kF32 ? "f32" : "f64", d, all);
  }
  for (const char* f : {"f32", "f64", "f16", "bf16"}) {
    Digest d;
    run_grad_stats(isa, f, d);
    print_line(isa.name, "grad_stats", f, d, all);
  }
  std::printf("%s all %016" PRIx64 "\n", isa.name, all.value());
  std::fflush(stdout);
  return 0;
}

void print_sets() {
  for (int r = 0; r < kNumRules; ++r) {
    const RuleInfo& info = rule_info(r);
    const RuleSpec& spec = *info.spec;
    for (int s = 0; s < info.n_examples; ++s) {
      const RuleExample& e = info.examples[s];
      std::printf("# %s set %d (%s):", spec.name, s, s % 2 == 0 ? "fresh state, steps 1-3" : "resumed state");
      for (int i = 0; i < info.n_hyper; ++i) std::printf(" %s=%g", spec.hyper[i].name, e.h[i]);
      if (e.maximize) std::printf(" maximize");
      for (int i = 0; i < info.n_options; ++i)
        if (e.option[i]) std::printf(" %s", spec.options[i]);
      for (int i = 0; i < info.n_state; ++i)
        if (e.state_present[i]) std::printf(" +%s", spec.state[i].name);
      std::printf("\n");
    }
  }
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : " ") + s;
  return out;
}

}  // namespace
}  // namespace digest
}  // namespace fastoptim

int main(int argc, char** argv) {
  using namespace fastoptim;
  std::vector<std::string> isas;
  bool sets = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--isa" && i + 1 < argc) isas.emplace_back(argv[++i]);
    else if (a == "--sets") sets = true;
    else {
      std::fprintf(stderr, "usage: %s [--isa NAME]... [--sets]\n", argv[0]);
      return 2;
    }
  }
  try {
#if defined(__x86_64__) || defined(_M_X64)
    const char* arch = "x86_64";
#elif defined(__aarch64__)
    const char* arch = "aarch64";
#else
    const char* arch = "other";
#endif
    std::printf("# fastoptim digest driver: arch %s; compiled: %s; supported here: %s\n", arch,
                digest::join(compiled_isas()).c_str(), digest::join(supported_isas()).c_str());
    if (sets) digest::print_sets();
    if (isas.empty()) isas = supported_isas();
    for (const auto& name : isas) digest::run_isa(name);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "digest_driver: %s\n", e.what());
    return 2;
  }
  return 0;
}
