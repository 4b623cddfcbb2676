// The per-ISA kernels of Adafactor (torch.optim.Adafactor): a row of every IsaTable
// (core/isa_table.hpp), one per dtype. The kernels are in matrix/adafactor_kernels.hpp, the step
// that drives them (blocks, threads, per-tensor scalars) in matrix/adafactor_step.cpp.
//
// A factored tensor (≥ 2 dims) is seen as B matrices of R rows and C columns (the last two
// dims); a kernel call covers `rows` consecutive rows of one of them. An unfactored one (0 or 1
// dims) is a flat run of n elements. Every reduction is accumulated in double in 16 fixed lanes
// (the lane of an element is its column mod 16, or its index mod 16 in a flat run), over fixed
// blocks that depend only on the shape: the bits depend on neither thread count nor ISA.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdint>

namespace fastoptim {

struct AdafactorKernels {
  // Kernels of a factored tensor cover a tile of `rows` rows and `cols` columns, rows `stride`
  // elements apart (the matrix's width; a tile starts at a column that is a multiple of 16).
  // Pass 1, factored, one sweep per row: row_lanes[16r + c mod 16] = Σ g[r,c]² (columns in order);
  // col_part[c] += g[r,c]² over the rows in order; p_lanes += p[r,c]² (lane c mod 16).
  void (*row_stats)(const void* p, const void* g, std::size_t rows, std::size_t cols, std::size_t stride,
                    double* row_lanes, double* col_part, double* p_lanes);
  // Pass 1, unfactored: p_lanes += p², variance = lerp(variance, g·g, w) (torch.lerp's branches).
  void (*vec_stats)(const void* p, const void* g, void* variance, std::size_t n, double w, double* p_lanes);
  // The small state update of one matrix: row_var = lerp(row_var, ‖g_r‖²/C, w) and col_var =
  // lerp(col_var, ‖g_c‖²/R, w) (the norms rounded to the dtype, squared and divided in it, as
  // torch's norm(...).square_().div_(...)); returns m = max(mean(row_var), eps1) in the dtype and
  // writes inv_col[c] = 1/√(col_var[c]/m) (computed in double, rounded to the dtype).
  double (*factors)(void* row_var, void* col_var, void* inv_col, const double* row_sums, const double* col_sums,
                    std::size_t rows, std::size_t cols, double w, double eps1);
  // Pass 2, factored: u = g · min(1/√row_var[r] · inv_col[c], 1/√eps1²); each row's u² summed
  // in 16 lanes of its own (lane c mod 16), which are added to `lanes` in row order.
  void (*row_update_sq)(const void* g, const void* row_var, const void* inv_col, double eps_sq, std::size_t rows,
                        std::size_t cols, std::size_t stride, double* lanes);
  // Pass 2, unfactored: lanes += u², u = g · 1/√max(variance, eps1²).
  void (*vec_update_sq)(const void* g, const void* variance, double eps_sq, std::size_t n, double* lanes);
  // Pass 3: p = p·decay + scale·u (u as in pass 2; decay = 1 − lr·weight_decay; scale = ∓α/denom).
  void (*row_apply)(void* p, const void* g, const void* row_var, const void* inv_col, double eps_sq, double decay,
                    double scale, std::size_t rows, std::size_t cols, std::size_t stride);
  void (*vec_apply)(void* p, const void* g, const void* variance, double eps_sq, double decay, double scale,
                    std::size_t n);
  // The streaming probes of the matrix passes' byte shapes (matrix/pass_probe.hpp; float32
  // streams, the same functions in every dtype's row): the roofs bench/matrix_roof.py compares
  // Adafactor's and Muon's passes against.
  float (*probe_read)(const float* a, const float* b, std::size_t n);
  void (*probe_rw_out16)(float* a, const float* g, std::uint16_t* o, std::size_t n);
  void (*probe_rw_out32)(float* a, const float* g, float* o, std::size_t n);
  void (*probe_half_rw)(float* a, const std::uint16_t* h, std::size_t n);
  // ... and of the factored pass 3 with the column vector it reads beside every row
  void (*probe_rw_cols)(float* a, const float* g, const float* w, std::size_t rows, std::size_t cols,
                        std::size_t stride);
};

}  // namespace fastoptim
