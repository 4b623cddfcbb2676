// One instruction set's copy of every kernel. CMake compiles this file once per ISA with
// -DFASTOPTIM_ISA_NS=<name> and that ISA's -m flags; nothing here may have external linkage
// except table(), so that no function compiled for a wider ISA can be picked by the linker
// for a caller on a narrower one.
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "isa_table.hpp"
#include "step_scalars.hpp"

#ifndef FASTOPTIM_ISA_NS
#error "FASTOPTIM_ISA_NS must name the instruction set this copy is compiled for"
#endif

namespace fastoptim {
namespace FASTOPTIM_ISA_NS {
namespace {
#include "kernels/element_math.hpp"
#include "kernels/sgd.hpp"
#include "kernels/adagrad.hpp"
#include "kernels/rmsprop.hpp"
#include "kernels/adam.hpp"
#include "kernels/grad_stats.hpp"
#include "kernels/stream_probe.hpp"

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
}  // namespace

// Defined in isa_kernels8.cpp, compiled for the same ISA.
const Block8Fn* block8_kernels();

#define FASTOPTIM_STR2(x) #x
#define FASTOPTIM_STR(x) FASTOPTIM_STR2(x)

const IsaTable& table() {
#define FASTOPTIM_MIXED(rule)                                                  \
  {{rule<float, F16, F16>, rule<float, F16, F16>},                             \
   {rule<float, BF16, BF16>, rule<float, BF16, BF16SR>}}
#define FASTOPTIM_BF16_STATE(rule)                                             \
  {{rule<float, float, void, BF16>, rule<float, float, void, BF16SR>},         \
   {rule<float, F16, F16, BF16>, rule<float, F16, F16, BF16SR>},               \
   {rule<float, BF16, BF16, BF16>, rule<float, BF16, BF16SR, BF16SR>}}
  static const IsaTable t = {
      FASTOPTIM_STR(FASTOPTIM_ISA_NS),
      {{sgd<float>, sgd<double>},
       {adagrad<float>, adagrad<double>},
       {rmsprop<float>, rmsprop<double>},
       {adam<float>, adam<double>}},
      {FASTOPTIM_MIXED(sgd), FASTOPTIM_MIXED(adagrad), FASTOPTIM_MIXED(rmsprop), FASTOPTIM_MIXED(adam)},
      {FASTOPTIM_BF16_STATE(sgd), FASTOPTIM_BF16_STATE(adagrad), FASTOPTIM_BF16_STATE(rmsprop),
       FASTOPTIM_BF16_STATE(adam)},
      {narrow_all<F16>, narrow_all<BF16>},
      {widen_all<F16>, widen_all<BF16>},
      {grad_stats_low<F16>, grad_stats_low<BF16>},
      {grad_stats<float>, grad_stats<double>},
      stream_probe,
      {},
  };
  static const IsaTable full = [] {
    IsaTable copy = t;
    for (int r = 0; r < kNumRules; ++r) copy.block8[r] = block8_kernels()[r];
    return copy;
  }();
  return full;
}
#undef FASTOPTIM_MIXED
#undef FASTOPTIM_BF16_STATE

}  // namespace FASTOPTIM_ISA_NS
}  // namespace fastoptim
