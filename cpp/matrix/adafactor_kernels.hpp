// Adafactor's kernels (torch.optim.Adafactor, torch 2.13), one copy per ISA: included by
// core/isa_kernels.cpp inside that copy's anonymous namespace, after formats/element_math.hpp
// (root, lerp) and core/grad_stats.hpp (16-lane sums of squares). The step that drives them is
// matrix/adafactor_step.cpp; what each computes is in matrix/adafactor_types.hpp.
//
// Per tensor and step t (G = ±grad, maximize flips the sign):
//   ρ = min(lr, 1/√t),  α = max(ε2, ‖p‖/√numel)·ρ,  w = t^beta2_decay  (= 1 − β̂2)
//   ≥ 2 dims:  R = lerp(R, mean_c G², w),  C = lerp(C, mean_r G², w)   (per leading index)
//              V[r,c] = R[r]·C[c] / m,  m = max(mean_r R, ε1)
//   else:      V = lerp(V, G·G, w)
//   U = G · 1/√max(V, ε1²)   (factored: min(R^(-1/2)·(C/m)^(-1/2), 1/ε1), no per-element division)
//   denom = max(1, ‖U‖/(√numel·d))
//   p = p·(1 − lr·λ) − (α/denom)·U
// in the dtype's arithmetic in torch's order of operations; the sums of squares in double.
#pragma once
#include "matrix/pass_probe.hpp"

// The helpers below pass GCC vector types by value: in the baseline copy a 4-double vector is
// wider than SSE registers, which -Wpsabi (GCC's and Clang's) reports as an ABI change. These
// functions are internal to one copy (an anonymous namespace) and inlined; no ABI is crossed.
// (Not popped: the templates are instantiated at the end of the translation unit.)
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wpsabi"
#elif defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

// Elements of u formed at a time before their squares go into the lanes: a multiple of the
// lane count, so the lane of each element is its column mod 16 whatever the chunking.
constexpr std::size_t kAfChunk = 256;
static_assert(kAfChunk % kStatLanes == 0, "chunks keep each element's lane");

template <class T>
inline T af_rsqrt_clamped(T v, T eps_sq) {
  v = v < eps_sq ? eps_sq : v;  // clamp_min: NaN stays NaN
  return T(1) / root(v);
}

// The 16 lanes as kStatLanes / kStatWidth vectors of doubles (core/grad_stats.hpp's pattern:
// GCC/Clang vector extensions, which the vectorizer does not need to discover), and loads of
// kStatWidth elements of T.
template <class T>
struct AfVec {
  using D = typename StatVec<T>::D;
  using G = typename StatVec<T>::G;
  static constexpr int W = kStatWidth;
  static constexpr int K = int(kStatLanes) / kStatWidth;
  static G load(const T* x) {
    G v;
    __builtin_memcpy(&v, x, sizeof v);
    return v;
  }
  // float → double is exact: both forms give the same bits. GCC lowers the generic conversion of
  // 8 floats to 8 doubles as two 4-wide conversions, an extract and an insert; the one AVX-512
  // instruction made pass 2 about a third faster on data in L2 (28 → 38 % of the read probe on
  // 32×4096 float32, a /tmp microbenchmark of these loops).
  static D wide(G v) {
#if defined(__AVX512F__)
    if constexpr (sizeof(T) == 4 && W == 8) {
      __m256 x;
      __builtin_memcpy(&x, &v, sizeof x);
      const __m512d y = _mm512_cvtps_pd(x);
      D d;
      __builtin_memcpy(&d, &y, sizeof d);
      return d;
    }
#endif
    return __builtin_convertvector(v, D);
  }
};

// Pass 1 over NR consecutive rows: one sweep over the columns reads g of all NR rows (each row's
// g² lanes, and the column partials loaded and stored once for the NR rows, added row by row)
// and p of the first row; p of the other rows follows, row by row, so that p²'s lanes are added
// in row order as well. Every lane and partial gets its terms in the order of a plain sweep,
// row by row: the bits do not depend on NR. (A /tmp microbenchmark of these loops on 4096×4096
// float32, AVX-512: 52 % of the read probe one row at a time, 60 % two, 75 % four, 80 % eight.)
template <class T, int NR>
inline void af_stats_rows(const T* pr, const T* gr, std::size_t stride, std::size_t cols, double* rl,
                          double* col_part, typename AfVec<T>::D* pacc) {
  using V = AfVec<T>;
  using D = typename V::D;
  constexpr int W = V::W, K = V::K;
  const std::size_t full = cols - cols % kStatLanes;
  D racc[NR][K];
  for (int j = 0; j < NR; ++j)
    for (int k = 0; k < K; ++k) racc[j][k] = D{};
  for (std::size_t c = 0; c < full; c += kStatLanes) {
    for (int k = 0; k < K; ++k) {
      const std::size_t o = c + std::size_t(k) * W;
      const D yd = V::wide(V::load(pr + o));
      pacc[k] += yd * yd;
      D cp;
      __builtin_memcpy(&cp, col_part + o, sizeof cp);
      for (int j = 0; j < NR; ++j) {
        const D xd = V::wide(V::load(gr + std::size_t(j) * stride + o));
        const D x2 = xd * xd;
        racc[j][k] += x2;
        cp += x2;
      }
      __builtin_memcpy(col_part + o, &cp, sizeof cp);
    }
  }
  __builtin_memcpy(rl, racc, sizeof racc);
  for (int j = 0; j < NR; ++j) {
    const T* pj = pr + std::size_t(j) * stride;
    const T* gj = gr + std::size_t(j) * stride;
    if (j > 0)
      for (std::size_t c = 0; c < full; c += kStatLanes)
        for (int k = 0; k < K; ++k) {
          const D yd = V::wide(V::load(pj + c + std::size_t(k) * W));
          pacc[k] += yd * yd;
        }
    // the row's tail: the lane of column c is c − full = c mod 16
    for (std::size_t c = full; c < cols; ++c) {
      const std::size_t l = c - full;
      const double x = double(gj[c]), y = double(pj[c]);
      rl[std::size_t(j) * kStatLanes + l] += x * x;
      col_part[c] += x * x;
      pacc[l / W][l % W] += y * y;
    }
  }
}

// Pass 1, factored: rows in groups (as many as the vector registers hold: 8 with AVX-512's 32
// registers, 2 with 16), the rest one by one. Rows narrower than kAfGroupCols go one by one: their
// column partials stay in L1 anyway, and NR short strided streams defeat the hardware prefetcher
// (four transformer layers of width 512, bench/matrix_roof.py: passes 1 and 2 at 53 % and 40 % of
// their probes in groups of 8 from 512 columns up, 67 % and 64 % with this threshold).
constexpr std::size_t kAfGroupCols = 2048;
template <class T>
void af_row_stats(const void* param, const void* grad, std::size_t rows, std::size_t cols, std::size_t stride,
                  double* row_lanes, double* col_part, double* p_lanes) {
  using V = AfVec<T>;
  using D = typename V::D;
  constexpr int NR = V::W == 8 ? 8 : 2;
  const T* p = static_cast<const T*>(param);
  const T* g = static_cast<const T*>(grad);
  D pacc[V::K];
  __builtin_memcpy(pacc, p_lanes, sizeof pacc);
  std::size_t r = 0;
  if (cols >= kAfGroupCols)
    for (; r + NR <= rows; r += NR)
      af_stats_rows<T, NR>(p + r * stride, g + r * stride, stride, cols, row_lanes + r * kStatLanes, col_part,
                           pacc);
  for (; r < rows; ++r)
    af_stats_rows<T, 1>(p + r * stride, g + r * stride, stride, cols, row_lanes + r * kStatLanes, col_part, pacc);
  __builtin_memcpy(p_lanes, pacc, sizeof pacc);
}

template <class T>
void af_vec_stats(const void* param, const void* grad, void* variance, std::size_t n, double w, double* p_lanes) {
  const T* __restrict g = static_cast<const T*>(grad);
  T* __restrict v = static_cast<T*>(variance);
  double bad = 0.0;
  grad_stats<T>(param, n, p_lanes, &bad);
  const T wt = T(w), omw = T(1) - wt;
  const bool low = w < 0.5 && w > -0.5;
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) v[i] = lerp(v[i], g[i] * g[i], wt, omw, low);
}

template <class T>
double af_factors(void* row_var, void* col_var, void* inv_col, const double* row_sums, const double* col_sums,
                  std::size_t rows, std::size_t cols, double w, double eps1) {
  T* rv = static_cast<T*>(row_var);
  T* cv = static_cast<T*>(col_var);
  const T wt = T(w), omw = T(1) - wt;
  const bool low = w < 0.5 && w > -0.5;
  for (std::size_t r = 0; r < rows; ++r) {
    const T norm = T(root(row_sums[r]));
    rv[r] = lerp(rv[r], (norm * norm) / T(double(cols)), wt, omw, low);
  }
  for (std::size_t c = 0; c < cols; ++c) {
    const T norm = T(root(col_sums[c]));
    cv[c] = lerp(cv[c], (norm * norm) / T(double(rows)), wt, omw, low);
  }
  double sum = 0.0;
  for (std::size_t r = 0; r < rows; ++r) sum += double(rv[r]);
  const T mean = T(sum / double(rows)), e = T(eps1);
  const T m = mean < e ? e : mean;
  // 1/√(C[c]/m), in double, rounded once: V[r,c]^(-1/2) = R[r]^(-1/2)·(C[c]/m)^(-1/2).
  T* ic = static_cast<T*>(inv_col);
  for (std::size_t c = 0; c < cols; ++c) ic[c] = T(1.0 / root(double(cv[c]) / double(m)));
  return double(m);
}

// 1/√max(V, ε1²) of a factored tensor without a division or square root per element:
// min(R[r]^(-1/2)·(C[c]/m)^(-1/2), 1/√(ε1²)) with both factors rounded once from double (a few
// ulps from torch's rsqrt(clamp(R·C/m, ε1²)); the clamp is the same bound, ε1² rounded to the
// dtype as torch rounds it).
template <class T>
inline T af_inv_row(T rv) {
  return T(1.0 / root(double(rv)));
}
template <class T>
inline T af_cap(double eps_sq) {
  return T(1.0 / root(double(T(eps_sq))));
}

// Pass 2 over NR consecutive rows in one sweep of the columns: u = g·min(ir·ic[c], cap), each
// row's u² summed in its own 16 lanes from zero (lane c mod 16, columns in order), then the rows'
// lanes added to the block's lanes in row order. The grouping does not change the bits; the
// rows read side by side give the memory system NR streams to fetch at once (a /tmp
// microbenchmark on 4096×4096 float32, AVX-512: 55 % of the read probe one row at a time,
// 68-83 % eight).
template <class T, int NR>
inline void af_update_rows(const T* gr, std::size_t stride, const T* rv, const T* ic, T cap, std::size_t cols,
                           typename AfVec<T>::D* acc) {
  using V = AfVec<T>;
  using D = typename V::D;
  using G = typename V::G;
  constexpr int W = V::W, K = V::K;
  const G capv = G{} + cap;
  T ir[NR];
  G irv[NR];
  D racc[NR][K];
  for (int j = 0; j < NR; ++j) {
    ir[j] = af_inv_row(rv[j]);
    irv[j] = G{} + ir[j];
    for (int k = 0; k < K; ++k) racc[j][k] = D{};
  }
  const std::size_t full = cols - cols % kStatLanes;
  for (std::size_t c = 0; c < full; c += kStatLanes) {
    for (int k = 0; k < K; ++k) {
      const std::size_t o = c + std::size_t(k) * W;
      const G icv = V::load(ic + o);
      for (int j = 0; j < NR; ++j) {
        const G f = irv[j] * icv;
        const G u = (f > capv ? capv : f) * V::load(gr + std::size_t(j) * stride + o);
        const D ud = V::wide(u);
        racc[j][k] += ud * ud;
      }
    }
  }
  for (int j = 0; j < NR; ++j) {
    const T* gj = gr + std::size_t(j) * stride;
    for (std::size_t c = full; c < cols; ++c) {
      const std::size_t l = c - full;
      const T f = ir[j] * ic[c];
      const double u = double((f > cap ? cap : f) * gj[c]);
      racc[j][l / W][l % W] += u * u;
    }
    for (int k = 0; k < K; ++k) acc[k] += racc[j][k];
  }
}

template <class T>
void af_row_update_sq(const void* grad, const void* row_var, const void* inv_col, double eps_sq, std::size_t rows,
                      std::size_t cols, std::size_t stride, double* lanes) {
  using V = AfVec<T>;
  using D = typename V::D;
  constexpr int NR = V::W == 8 ? 8 : 2;
  const T* g = static_cast<const T*>(grad);
  const T* rv = static_cast<const T*>(row_var);
  const T* ic = static_cast<const T*>(inv_col);
  const T cap = af_cap<T>(eps_sq);
  D acc[V::K];
  __builtin_memcpy(acc, lanes, sizeof acc);
  std::size_t r = 0;
  if (cols >= kAfGroupCols)
    for (; r + NR <= rows; r += NR) af_update_rows<T, NR>(g + r * stride, stride, rv + r, ic, cap, cols, acc);
  for (; r < rows; ++r) af_update_rows<T, 1>(g + r * stride, stride, rv + r, ic, cap, cols, acc);
  __builtin_memcpy(lanes, acc, sizeof acc);
}

template <class T>
void af_vec_update_sq(const void* grad, const void* variance, double eps_sq, std::size_t n, double* lanes) {
  const T* __restrict g = static_cast<const T*>(grad);
  const T* __restrict v = static_cast<const T*>(variance);
  const T e2 = T(eps_sq);
  T buf[kAfChunk];
  double bad = 0.0;
  for (std::size_t i0 = 0; i0 < n; i0 += kAfChunk) {
    const std::size_t cnt = n - i0 < kAfChunk ? n - i0 : kAfChunk;
#pragma omp simd
    for (std::size_t k = 0; k < cnt; ++k) buf[k] = af_rsqrt_clamped(v[i0 + k], e2) * g[i0 + k];
    grad_stats<T>(buf, cnt, lanes, &bad);
  }
}

template <class T>
void af_row_apply(void* param, const void* grad, const void* row_var, const void* inv_col, double eps_sq,
                  double decay, double scale, std::size_t rows, std::size_t cols, std::size_t stride) {
  T* p = static_cast<T*>(param);
  const T* g = static_cast<const T*>(grad);
  const T* rv = static_cast<const T*>(row_var);
  const T* __restrict ic = static_cast<const T*>(inv_col);
  const T cap = af_cap<T>(eps_sq), dec = T(decay), s = T(scale);
  for (std::size_t r = 0; r < rows; ++r) {
    const T ir = af_inv_row(rv[r]);
    T* __restrict pr = p + r * stride;
    const T* __restrict gr = g + r * stride;
#pragma omp simd
    for (std::size_t c = 0; c < cols; ++c) {
      const T f = ir * ic[c];
      const T u = (f > cap ? cap : f) * gr[c];
      pr[c] = pr[c] * dec + s * u;
    }
  }
}

template <class T>
void af_vec_apply(void* param, const void* grad, const void* variance, double eps_sq, double decay, double scale,
                  std::size_t n) {
  T* __restrict p = static_cast<T*>(param);
  const T* __restrict g = static_cast<const T*>(grad);
  const T* __restrict v = static_cast<const T*>(variance);
  const T e2 = T(eps_sq), dec = T(decay), s = T(scale);
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    const T u = af_rsqrt_clamped(v[i], e2) * g[i];
    p[i] = p[i] * dec + s * u;
  }
}

template <class T>
constexpr AdafactorKernels adafactor_kernels() {
  return {af_row_stats<T>, af_vec_stats<T>, af_factors<T>, af_row_update_sq<T>,
          af_vec_update_sq<T>, af_row_apply<T>, af_vec_apply<T>,
          pass_probe_read,   pass_probe_rw_out16, pass_probe_rw_out32, pass_probe_half_rw,
          pass_probe_rw_cols};
}
