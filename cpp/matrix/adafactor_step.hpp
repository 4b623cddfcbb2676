// One Adafactor step (torch.optim.Adafactor's semantics) over many tensors: three parallel
// passes over fixed blocks, with the small row/column state update in between.
//   pass 1: read p, g            → ‖p‖², row sums and column sums of g² (vectors: variance updated)
//   (row_var, col_var updated; m = max(mean row_var, ε1); α per tensor)
//   pass 2: read g (and the small factors, or the variance) → ‖U‖²
//   pass 3: read p, g, write p   (vectors: the variance is read in passes 2 and 3 as well)
// Blocks depend only on the shapes, and partial sums are added in block order: the same bits
// for any thread count and ISA. Inputs are validated by the caller (bindings/register_adafactor.cpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/buffers.hpp"
#include "core/rule_types.hpp"

namespace fastoptim {

struct AdafactorHyper {
  double lr, beta2_decay, eps1, eps2, d, weight_decay;
  bool maximize;
};

struct AdafactorTensor {
  Dtype dtype;
  void* param;
  const void* grad;
  void* row_var;   // factored: batches × rows
  void* col_var;   // factored: batches × cols
  void* variance;  // unfactored: numel
  std::size_t batches, rows, cols;  // factored: the leading dims' product, and the last two dims
  std::size_t numel;
  bool factored;
  Counter counter;  // the tensor's step count; each distinct counter is advanced once
  int hyper;        // index into the hyperparameter list
};

// Elements a block of the passes holds at least (a whole number of rows of a tile of a
// factored tensor, at least kAfMinRows of them); the column partial sums cost 8 bytes per column
// per block. Matrices wider than kAfTileCols are cut into tiles of that many columns (a multiple
// of 16, so a column keeps its lane): the partial sums of a block stay in cache, and wide
// matrices with few rows still make enough blocks for every thread.
constexpr std::size_t kAfBlockElems = std::size_t(1) << 17;
constexpr std::size_t kAfMinRows = 8;
constexpr std::size_t kAfTileCols = std::size_t(1) << 14;
static_assert(kAfTileCols % 16 == 0, "tiles keep each column's lane");
constexpr std::size_t kAfVecBlock = std::size_t(1) << 16;

// Steps every tensor; the caller has released the GIL. Never throws after the first write.
// pass_seconds, where given, receives the wall time of each of the three passes (benchmarks).
void adafactor_step(const std::vector<AdafactorTensor>& tensors, const std::vector<AdafactorHyper>& hypers,
                    double* pass_seconds = nullptr);

}  // namespace fastoptim
