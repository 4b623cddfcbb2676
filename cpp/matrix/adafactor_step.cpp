#include "matrix/adafactor_step.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <utility>

#include "core/dispatch.hpp"
#include "core/lane_sum.hpp"
#include "core/parallel.hpp"

namespace fastoptim {
namespace {

constexpr std::size_t kLanes = 16;

// x rounded to the tensor's dtype (torch's norm(...).item() is a value of the dtype).
double in_dtype(Dtype d, double x) { return d == kF32 ? double(float(x)) : x; }

// The step number this step takes: the counter plus one in the counter's own type (torch
// A fixed piece of one tensor: rows [row0, row0 + nrows) and columns [col0, col0 + ncols) of
// matrix `batch` (factored), or elements [off, off + n) (unfactored). `col_part` indexes its
// column partial sums, `row_lane` its rows' 16 lanes of g² (matrices cut into several tiles of
// columns; `whole_rows`: a single tile, whose rows' sums the block writes itself).
struct Block {
  std::size_t tensor, batch, row0, nrows, col0, ncols, off, n, col_part, row_lane;
  bool whole_rows;
};

// The 16 lanes of each row of a block whose rows are whole (one tile), kWholeRowsAtOnce rows at
// a time (the kernel adds to the column partials and ‖p‖²'s lanes in row order however the rows
// are split): per thread, 128 KiB reused from block to block and step to step, so that a tall
// narrow matrix does not allocate and fault in 16 doubles per row of the whole matrix every
// step (a 1048576×16 step spent ~150 ms of its ~180 there, 1 thread).
constexpr std::size_t kWholeRowsAtOnce = 1024;
double* whole_row_lanes(std::size_t rows) {
  thread_local std::vector<double> lanes(kWholeRowsAtOnce * kLanes);
  std::fill(lanes.begin(), lanes.begin() + std::ptrdiff_t(rows * kLanes), 0.0);
  return lanes.data();
}

// Per tensor, what passes 1 and 2 produce and pass 3 uses.
struct TensorScalars {
  std::size_t first_block = 0, nblocks = 0, row_sums = 0;  // offsets into the scratch arrays
  double w = 0, alpha = 0, decay = 1, scale = 0, eps_sq = 0;
};

char* at(void* base, std::size_t elems, Dtype d) {
  return static_cast<char*>(base) + elems * dtype_size(d);
}
const char* at(const void* base, std::size_t elems, Dtype d) {
  return static_cast<const char*>(base) + elems * dtype_size(d);
}

// A step's scratch (block lanes, column partials, row lanes and sums, factors), freed at the end
// of the step. Kept per thread from step to step, it saved the fresh pages of every step (a
// 16×1048576 step 34.6 → 19.6 ms, one thread), but the memory it held made the Muon passes run
// in the same process after it 20-25 % slower (5.8 vs 7.4 ms, 4096×4096 momentum pass; bench/
// matrix_roof.py, which runs Adafactor's cases first; the cause was not found). So it is not kept.
struct Scratch {
  std::vector<double> lanes, cols, rows, rlanes, col_sums, row_acc, inv_cols;
};

template <class F>
void for_blocks(const std::vector<Block>& blocks, std::size_t total, F&& fn) {
  const int nt = threads_for(total);
  if (nt <= 1 || blocks.size() < 2) {
    for (std::size_t b = 0; b < blocks.size(); ++b) fn(b);
    return;
  }
  struct Ctx {
    F* fn;
  } ctx{&fn};
  run_parallel(
      nt, int(blocks.size()), [](void* p, int b) { (*static_cast<Ctx*>(p)->fn)(std::size_t(b)); }, &ctx);
}

}  // namespace

void adafactor_step(const std::vector<AdafactorTensor>& ts, const std::vector<AdafactorHyper>& hypers,
                    double* pass_seconds) {
  const IsaTable& isa = active_isa();
  using Clock = std::chrono::steady_clock;
  Clock::time_point t0;
  auto tic = [&] {
    if (pass_seconds) t0 = Clock::now();
  };
  auto toc = [&](int pass) {
    if (pass_seconds) pass_seconds[pass] = std::chrono::duration<double>(Clock::now() - t0).count();
  };
  // Fixed blocks, from the shapes alone.
  std::vector<Block> blocks;
  std::vector<TensorScalars> sc(ts.size());
  std::size_t col_parts = 0, row_sums = 0, row_lanes = 0, total = 0;
  for (std::size_t i = 0; i < ts.size(); ++i) {
    const AdafactorTensor& t = ts[i];
    sc[i].first_block = blocks.size();
    total += t.numel;
    if (t.numel == 0) continue;
    if (t.factored) {
      const std::size_t tile = std::min(t.cols, kAfTileCols);
      std::size_t per = std::max((kAfBlockElems + tile - 1) / tile, kAfMinRows);
      per = std::min(per, t.rows);
      sc[i].row_sums = row_sums;
      row_sums += t.batches * t.rows;
      for (std::size_t b = 0; b < t.batches; ++b)
        for (std::size_t r = 0; r < t.rows; r += per) {
          const std::size_t nr = std::min(per, t.rows - r);
          for (std::size_t c = 0; c < t.cols; c += tile) {
            const std::size_t nc = std::min(tile, t.cols - c);
            const bool whole = tile == t.cols;
            blocks.push_back(
                {i, b, r, nr, c, nc, (b * t.rows + r) * t.cols + c, nr * nc, col_parts, row_lanes, whole});
            col_parts += nc;
            if (!whole) row_lanes += nr * kLanes;
          }
        }
    } else {
      for (std::size_t off = 0; off < t.numel; off += kAfVecBlock)
        blocks.push_back({i, 0, 0, 0, 0, 0, off, std::min(kAfVecBlock, t.numel - off), 0, 0, false});
    }
    sc[i].nblocks = blocks.size() - sc[i].first_block;
  }
  Scratch scr;
  std::vector<double>&lanes = scr.lanes, &cols = scr.cols, &rows = scr.rows, &rlanes = scr.rlanes;
  lanes.assign(blocks.size() * kLanes, 0.0);
  cols.assign(col_parts, 0.0);
  rows.assign(row_sums, 0.0);
  rlanes.assign(row_lanes, 0.0);

  // Per-step scalars of each tensor, in double (torch's Python floats).
  for (std::size_t i = 0; i < ts.size(); ++i) {
    const AdafactorHyper& h = hypers[std::size_t(ts[i].hyper)];
    const double step = counter_after_step(ts[i].counter);
    sc[i].w = std::pow(step, h.beta2_decay);  // 1 − β̂2
    sc[i].eps_sq = h.eps1 * h.eps1;
    sc[i].decay = 1.0 - h.lr * h.weight_decay;
  }

  // Pass 1: ‖p‖², the row sums and the column partial sums of g² (vectors: the variance).
  tic();
  for_blocks(blocks, total, [&](std::size_t bi) {
    const Block& b = blocks[bi];
    const AdafactorTensor& t = ts[b.tensor];
    const AdafactorKernels& k = isa.adafactor[t.dtype];
    double* pl = &lanes[bi * kLanes];
    if (t.factored && b.whole_rows) {  // the rows' sums: their 16 lanes pairwise
      double* rs = &rows[sc[b.tensor].row_sums + b.batch * t.rows + b.row0];
      for (std::size_t r0 = 0; r0 < b.nrows; r0 += kWholeRowsAtOnce) {
        const std::size_t nr = std::min(kWholeRowsAtOnce, b.nrows - r0);
        double* rl = whole_row_lanes(nr);
        k.row_stats(at(t.param, b.off + r0 * t.cols, t.dtype), at(t.grad, b.off + r0 * t.cols, t.dtype), nr, b.ncols,
                    t.cols, rl, &cols[b.col_part], pl);
        for (std::size_t r = 0; r < nr; ++r) rs[r0 + r] = pairwise_lane_sum(&rl[r * kLanes]);
      }
    } else if (t.factored) {
      k.row_stats(at(t.param, b.off, t.dtype), at(t.grad, b.off, t.dtype), b.nrows, b.ncols, t.cols,
                  &rlanes[b.row_lane], &cols[b.col_part], pl);
    } else
      k.vec_stats(at(t.param, b.off, t.dtype), at(t.grad, b.off, t.dtype), at(t.variance, b.off, t.dtype), b.n,
                  sc[b.tensor].w, pl);
  });
  toc(0);

  // The small state: α from ‖p‖ (before weight decay), the row and column factors, m per matrix.
  std::vector<double>&col_sums = scr.col_sums, &row_acc = scr.row_acc;
  // Per tensor, 1/√(col_var/m) of each of its matrices (dtype-sized; doubles keep it aligned).
  std::vector<std::size_t> inv_off(ts.size(), 0);
  std::size_t inv_total = 0;
  for (std::size_t i = 0; i < ts.size(); ++i)
    if (ts[i].factored && ts[i].numel) {
      inv_off[i] = inv_total;
      inv_total += ts[i].batches * ts[i].cols;
    }
  std::vector<double>& inv_cols = scr.inv_cols;
  inv_cols.assign(inv_total, 0.0);
  auto inv_col = [&](std::size_t i, std::size_t batch) {
    return at(inv_cols.data(), inv_off[i] + batch * ts[i].cols, ts[i].dtype);
  };
  for (std::size_t i = 0; i < ts.size(); ++i) {
    const AdafactorTensor& t = ts[i];
    if (t.numel == 0) continue;
    const AdafactorHyper& h = hypers[std::size_t(t.hyper)];
    double p2 = 0.0;
    for (std::size_t b = sc[i].first_block; b < sc[i].first_block + sc[i].nblocks; ++b)
      p2 += pairwise_lane_sum(&lanes[b * kLanes]);
    const double root_n = std::pow(double(t.numel), 0.5);
    const double rms = in_dtype(t.dtype, std::sqrt(p2)) / root_n;
    const double step = counter_after_step(t.counter);
    const double inv_root_t = 1.0 / std::pow(step, 0.5);
    const double rho = inv_root_t < h.lr ? inv_root_t : h.lr;
    sc[i].alpha = (rms > h.eps2 ? rms : h.eps2) * rho;
    if (!t.factored) continue;
    const AdafactorKernels& k = isa.adafactor[t.dtype];
    std::size_t b = sc[i].first_block;
    for (std::size_t batch = 0; batch < t.batches; ++batch) {
      // Column sums: the blocks' partials in block (row) order. Row sums: each row's lanes
      // summed over its tiles in column order, then the 16 lanes pairwise (one tile: its lanes).
      // (whole rows: the row sums are already written by pass 1)
      const bool whole = blocks[b].whole_rows;
      col_sums.assign(t.cols, 0.0);
      if (!whole) row_acc.assign(t.rows * kLanes, 0.0);
      for (; b < sc[i].first_block + sc[i].nblocks && blocks[b].batch == batch; ++b) {
        const Block& blk = blocks[b];
        const double* part = &cols[blk.col_part];
        double* cs = &col_sums[blk.col0];
        for (std::size_t c = 0; c < blk.ncols; ++c) cs[c] += part[c];
        if (whole) continue;
        const double* rl = &rlanes[blk.row_lane];
        double* ra = &row_acc[blk.row0 * kLanes];
        for (std::size_t j = 0; j < blk.nrows * kLanes; ++j) ra[j] += rl[j];
      }
      double* rs = &rows[sc[i].row_sums + batch * t.rows];
      if (!whole)
        for (std::size_t r = 0; r < t.rows; ++r) rs[r] = pairwise_lane_sum(&row_acc[r * kLanes]);
      k.factors(at(t.row_var, batch * t.rows, t.dtype), at(t.col_var, batch * t.cols, t.dtype), inv_col(i, batch),
                &rows[sc[i].row_sums + batch * t.rows], col_sums.data(), t.rows, t.cols, sc[i].w, h.eps1);
    }
  }

  // Pass 2: ‖U‖².
  std::fill(lanes.begin(), lanes.end(), 0.0);
  tic();
  for_blocks(blocks, total, [&](std::size_t bi) {
    const Block& b = blocks[bi];
    const AdafactorTensor& t = ts[b.tensor];
    const AdafactorKernels& k = isa.adafactor[t.dtype];
    double* ul = &lanes[bi * kLanes];
    if (t.factored)
      k.row_update_sq(at(t.grad, b.off, t.dtype), at(t.row_var, b.batch * t.rows + b.row0, t.dtype),
                      at(inv_col(b.tensor, b.batch), b.col0, t.dtype), sc[b.tensor].eps_sq, b.nrows, b.ncols, t.cols,
                      ul);
    else
      k.vec_update_sq(at(t.grad, b.off, t.dtype), at(t.variance, b.off, t.dtype), sc[b.tensor].eps_sq, b.n, ul);
  });
  toc(1);
  for (std::size_t i = 0; i < ts.size(); ++i) {
    const AdafactorTensor& t = ts[i];
    if (t.numel == 0) continue;
    const AdafactorHyper& h = hypers[std::size_t(t.hyper)];
    double u2 = 0.0;
    for (std::size_t b = sc[i].first_block; b < sc[i].first_block + sc[i].nblocks; ++b)
      u2 += pairwise_lane_sum(&lanes[b * kLanes]);
    const double ratio = in_dtype(t.dtype, std::sqrt(u2)) / (std::pow(double(t.numel), 0.5) * h.d);
    const double denom = ratio > 1.0 ? ratio : 1.0;  // Python's max(1.0, x): NaN gives 1.0
    // p += (−α/denom)·U with U = (±g)·…; maximize's sign folded into the scale.
    sc[i].scale = h.maximize ? sc[i].alpha / denom : -(sc[i].alpha / denom);
  }

  // Pass 3: the params.
  tic();
  for_blocks(blocks, total, [&](std::size_t bi) {
    const Block& b = blocks[bi];
    const AdafactorTensor& t = ts[b.tensor];
    const AdafactorKernels& k = isa.adafactor[t.dtype];
    const TensorScalars& s = sc[b.tensor];
    if (t.factored)
      k.row_apply(at(t.param, b.off, t.dtype), at(t.grad, b.off, t.dtype),
                  at(t.row_var, b.batch * t.rows + b.row0, t.dtype), at(inv_col(b.tensor, b.batch), b.col0, t.dtype),
                  s.eps_sq, s.decay, s.scale, b.nrows, b.ncols, t.cols);
    else
      k.vec_apply(at(t.param, b.off, t.dtype), at(t.grad, b.off, t.dtype), at(t.variance, b.off, t.dtype), s.eps_sq,
                  s.decay, s.scale, b.n);
  });
  toc(2);

  // Every distinct step count advanced once.
  std::vector<std::pair<void*, std::size_t>> counters;
  for (std::size_t i = 0; i < ts.size(); ++i) counters.emplace_back(ts[i].counter.data, i);
  std::sort(counters.begin(), counters.end());
  for (std::size_t j = 0; j < counters.size(); ++j)
    if (j == 0 || counters[j].first != counters[j - 1].first) advance(ts[counters[j].second].counter);
}

}  // namespace fastoptim
