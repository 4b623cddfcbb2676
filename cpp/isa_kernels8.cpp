// One instruction set's copy of the 8-bit block-wise state kernels (kernels/blockwise8.hpp).
// Separate from isa_kernels.cpp so that CMake can give it its own vector-width preference;
// the same linkage rules apply: only block8_kernels() is visible outside.
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
#include "kernels/hash32.hpp"
#include "kernels/blockwise8.hpp"
static_assert(kBlock8 == kBlock8Size, "block size of the 8-bit state");
}  // namespace

const Block8Fn* block8_kernels() {
  static const Block8Fn kernels[kNumRules] = {sgd8, nullptr, rmsprop8, adam8};
  return kernels;
}

}  // namespace FASTOPTIM_ISA_NS
}  // namespace fastoptim
