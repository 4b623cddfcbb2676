// One instruction set's copy of the 8-bit block-wise state kernels (kernels/blockwise8.hpp).
// Separate from isa_kernels.cpp (it needs <immintrin.h> for the float16 converters, outside
// the ISA namespace); the same linkage rules apply: only block8_kernels() is visible outside.
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>
#if defined(__F16C__)
// The codes convert through the float16 converters where the copy has them (F16C: the avx2
// and avx512 copies), and Adam's kernel is written out in AVX-512 for the avx512 copy
// (kernels/adam8_avx512.hpp). GCC 12 warns, once its intrinsics are inlined, that they read
// the deliberately undefined vector of _mm*_undefined_* (GCC bug 105593): a false positive
// about its own header.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#endif
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define FASTOPTIM_ADAM8_AVX512 1
#endif

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
#ifdef FASTOPTIM_ADAM8_AVX512
#include "kernels/adam8_avx512.hpp"
using Adam8Loop = Adam8Avx512;
#else
using Adam8Loop = Adam8Portable;
#endif
static_assert(kBlock8 == kBlock8Size, "block size of the 8-bit state");
}  // namespace

const Block8Fn* block8_kernels() {
  static const Block8Fn kernels[kNumRules] = {sgd8, nullptr, rmsprop8, adam8_with<Adam8Loop>};
  return kernels;
}

}  // namespace FASTOPTIM_ISA_NS
}  // namespace fastoptim
