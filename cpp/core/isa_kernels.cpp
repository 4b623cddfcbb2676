// One instruction set's copy of every kernel of every registered rule. CMake compiles this file
// once per ISA with -DFASTOPTIM_ISA_NS=<name> and that ISA's -m flags; nothing here may have
// external linkage except table(), so that no function compiled for a wider ISA can be picked by
// the linker for a caller on a narrower one (the rule headers, the formats and the helpers are
// all included inside this copy's anonymous namespace).
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>
#if defined(__F16C__)
// The 8-bit codes convert through the float16 converters where the copy has them (F16C: the
// avx2 and avx512 copies), and Adam's 8-bit kernel is written out in AVX-512 for the avx512
// copy (rules/adam/adam8_avx512.hpp). GCC 12 warns, once its intrinsics are inlined, that they
// read the deliberately undefined vector of _mm*_undefined_* (GCC bug 105593): a false positive
// about its own header.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#endif
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define FASTOPTIM_ADAM8_AVX512 1
#endif

#include "core/isa_table.hpp"
#include "core/rule_kit.hpp"

#ifndef FASTOPTIM_ISA_NS
#error "FASTOPTIM_ISA_NS must name the instruction set this copy is compiled for"
#endif

namespace fastoptim {
namespace FASTOPTIM_ISA_NS {
namespace {
#include "formats/element_math.hpp"
#include "core/hash32.hpp"
#include "formats/blockwise8.hpp"
#include "rule_headers.hpp"  // generated: every cpp/rules/<name>.hpp
#include "core/grad_stats.hpp"
#include "core/stream_probe.hpp"
#include "core/ema.hpp"
#include "matrix/muon.hpp"
#include "matrix/adafactor_kernels.hpp"
#include "matrix/lamb_kernels.hpp"
static_assert(kBlock8 == kBlock8Size, "block size of the 8-bit state");

// Bulk conversions (tests, and creating or reading float32 masters).
template <class L>
void narrow_all(const float* __restrict in, std::uint16_t* __restrict out, std::size_t n) {
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) out[i] = narrow(L{}, in[i]);
}
template <class L>
void widen_all(const std::uint16_t* __restrict in, float* __restrict out, std::size_t n) {
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) out[i] = widen(L{}, in[i]);
}

// Gradient statistics of 16-bit gradients: widened in chunks whose length is a multiple of the
// lane count, so each element lands in the same lane as in grad_stats<float>.
template <class L>
void grad_stats_low(const void* grad, std::size_t n, double* lanes, double* bad) {
  constexpr std::size_t kChunk = 256;
  static_assert(kChunk % kStatLanes == 0, "chunks keep the lane of each element");
  float buf[kChunk];
  const auto* g = static_cast<const std::uint16_t*>(grad);
  for (std::size_t off = 0; off < n; off += kChunk) {
    const std::size_t cnt = n - off < kChunk ? n - off : kChunk;
    widen_all<L>(g + off, buf, cnt);
    grad_stats<float>(buf, cnt, lanes, bad);
  }
}

// ---- a rule's row of the table, from its header ------------------------------------------------

// The step's scalars of rule R (maximize folds into the gradient multiplier), built in `out`.
template <class R>
void make_scalars_of(const double* h, const RuleFlags& f, std::int64_t step, double gmul, ScalarState& state,
                     ScalarsBuffer& out) {
  using Scalars = typename R::Scalars;
  static_assert(sizeof(Scalars) <= sizeof(out.bytes) && alignof(Scalars) <= alignof(ScalarsBuffer),
                "a rule's Scalars must fit a ScalarsBuffer");
  static_assert(std::is_trivially_copyable_v<Scalars> && std::is_trivially_destructible_v<Scalars>,
                "a rule's Scalars are plain data");
  new (out.bytes) Scalars(R::scalars(h, f, step, f.maximize ? -gmul : gmul, state));
}

template <class R, class T, class G = T, class O = void, class S = T>
void kernel_of(const void* scalars, void* const* st, std::size_t n, std::size_t first, std::uint32_t key) {
  R::template kernel<T, G, O, S>(*static_cast<const typename R::Scalars*>(scalars), st, n, first, key);
}

template <class R>
void block8_of(const void* scalars, const Block8Run& run) {
  if constexpr ((R::spec.formats & kFormatBlock8) != 0) R::block8(*static_cast<const typename R::Scalars*>(scalars), run);
}

template <class R>
constexpr RuleKernels kernels_of() {
  constexpr unsigned f = R::spec.formats;
  RuleKernels k{};
  k.make_scalars = make_scalars_of<R>;
  if constexpr ((f & kFormatPlain) != 0) {
    k.plain[kF32] = kernel_of<R, float>;
    k.plain[kF64] = kernel_of<R, double>;
  }
  if constexpr ((f & kFormatMixed) != 0) {
    k.mixed[kF16][0] = k.mixed[kF16][1] = kernel_of<R, float, F16, F16>;
    k.mixed[kBF16][0] = kernel_of<R, float, BF16, BF16>;
    k.mixed[kBF16][1] = kernel_of<R, float, BF16, BF16SR>;
  }
  if constexpr ((f & kFormatBf16State) != 0) {
    k.bf16_state[0][0] = kernel_of<R, float, float, void, BF16>;
    k.bf16_state[0][1] = kernel_of<R, float, float, void, BF16SR>;
    if constexpr ((f & kFormatMixed) != 0) {
      k.bf16_state[1 + kF16][0] = kernel_of<R, float, F16, F16, BF16>;
      k.bf16_state[1 + kF16][1] = kernel_of<R, float, F16, F16, BF16SR>;
      k.bf16_state[1 + kBF16][0] = kernel_of<R, float, BF16, BF16, BF16>;
      k.bf16_state[1 + kBF16][1] = kernel_of<R, float, BF16, BF16SR, BF16SR>;
    }
  }
  if constexpr ((f & kFormatBlock8) != 0) k.block8 = block8_of<R>;
  return k;
}
}  // namespace

#define FASTOPTIM_STR2(x) #x
#define FASTOPTIM_STR(x) FASTOPTIM_STR2(x)
#define FASTOPTIM_RULE_ROW(name) kernels_of<name>(),

namespace {
IsaTable make_table(const char* name) {
  return {
      name,
      {FASTOPTIM_RULES(FASTOPTIM_RULE_ROW)},
      {narrow_all<F16>, narrow_all<BF16>},
      {widen_all<F16>, widen_all<BF16>},
      {grad_stats_low<F16>, grad_stats_low<BF16>},
      {grad_stats<float>, grad_stats<double>},
      stream_probe,
      {ema_update<float>, ema_update<double>},
      {{{muon_momentum<float, BF16>, muon_momentum<float, MuonF32>},
        {muon_momentum<double, BF16>, muon_momentum<double, MuonF32>}},
       {{muon_apply<float, BF16>, muon_apply<float, MuonF32>}, {muon_apply<double, BF16>, muon_apply<double, MuonF32>}},
       muon_blend_bf16,
       muon_div_bf16},
      {adafactor_kernels<float>(), adafactor_kernels<double>()},
      {lamb_kernels<float>(), lamb_kernels<double>()},
      lamb_probe,
  };
}
}  // namespace
#undef FASTOPTIM_RULE_ROW

const IsaTable& table() {
  static const IsaTable t = make_table(FASTOPTIM_STR(FASTOPTIM_ISA_NS));
  return t;
}

#if defined(FASTOPTIM_MUON_AVX512BF16)
// The avx512 copy with the kernels that AVX512_BF16 makes faster at the same bits: Muon's
// momentum pass for float32 params (matrix/muon.hpp). dispatch.cpp offers it as its own ISA
// ("avx512bf16") on CPUs that have the instructions, so the tests run both paths.
const IsaTable& table_bf16() {
  static const IsaTable t = [] {
    IsaTable x = make_table("avx512bf16");
    x.muon.momentum[kF32][0] = muon_momentum_avx512bf16<BF16>;
    x.muon.momentum[kF32][1] = muon_momentum_avx512bf16<MuonF32>;
    return x;
  }();
  return t;
}
#endif

}  // namespace FASTOPTIM_ISA_NS
}  // namespace fastoptim
