// One instruction set's copy of every kernel. CMake compiles this file once per ISA with
// -DFASTOPTIM_ISA_NS=<name> and that ISA's -m flags; nothing here may have external linkage
// except table(), so that no function compiled for a wider ISA can be picked by the linker
// for a caller on a narrower one.
#include <cstddef>
#include <cstdint>

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
}  // namespace

// Defined in isa_kernels8.cpp, compiled for the same ISA.
const Block8Fn* block8_kernels();

#define FASTOPTIM_STR2(x) #x
#define FASTOPTIM_STR(x) FASTOPTIM_STR2(x)

const IsaTable& table() {
  static const IsaTable t = {
      FASTOPTIM_STR(FASTOPTIM_ISA_NS),
      {{sgd<float>, sgd<double>},
       {adagrad<float>, adagrad<double>},
       {rmsprop<float>, rmsprop<double>},
       {adam<float>, adam<double>}},
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

}  // namespace FASTOPTIM_ISA_NS
}  // namespace fastoptim
