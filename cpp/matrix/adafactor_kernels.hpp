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

inline double af_lane_sum(const double* lanes) {
  double a[16];
  for (int i = 0; i < 16; ++i) a[i] = lanes[i];
  for (int w = 8; w >= 1; w /= 2)
    for (int i = 0; i < w; ++i) a[i] = a[i] + a[i + w];
  return a[0];
}

// Elements of u formed at a time before their squares go into the lanes: a multiple of the
// lane count, so the lane of each element is its column mod 16 whatever the chunking.
constexpr std::size_t kAfChunk = 256;
static_assert(kAfChunk % kStatLanes == 0, "chunks keep each element's lane");

template <class T>
inline T af_rsqrt_clamped(T v, T eps_sq) {
  v = v < eps_sq ? eps_sq : v;  // clamp_min: NaN stays NaN
  return T(1) / root(v);
}

template <class T>
void af_row_stats(const void* param, const void* grad, std::size_t rows, std::size_t cols, double* row_sums,
                  double* col_part, double* p_lanes) {
  const T* p = static_cast<const T*>(param);
  const T* g = static_cast<const T*>(grad);
  double bad = 0.0;  // the non-finite flag of grad_stats; Adafactor has no use for it
  for (std::size_t r = 0; r < rows; ++r) {
    const T* gr = g + r * cols;
    double lanes[kStatLanes] = {};
    grad_stats<T>(gr, cols, lanes, &bad);
    row_sums[r] = af_lane_sum(lanes);
    grad_stats<T>(p + r * cols, cols, p_lanes, &bad);
    double* __restrict cp = col_part;
#pragma omp simd
    for (std::size_t c = 0; c < cols; ++c) {
      const double x = double(gr[c]);
      cp[c] += x * x;
    }
  }
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

template <class T>
void af_row_update_sq(const void* grad, const void* row_var, const void* inv_col, double eps_sq, std::size_t rows,
                      std::size_t cols, double* lanes) {
  const T* g = static_cast<const T*>(grad);
  const T* rv = static_cast<const T*>(row_var);
  const T* __restrict ic = static_cast<const T*>(inv_col);
  const T cap = af_cap<T>(eps_sq);
  T buf[kAfChunk];
  double bad = 0.0;
  for (std::size_t r = 0; r < rows; ++r) {
    const T ir = af_inv_row(rv[r]);
    const T* __restrict gr = g + r * cols;
    for (std::size_t c0 = 0; c0 < cols; c0 += kAfChunk) {
      const std::size_t cnt = cols - c0 < kAfChunk ? cols - c0 : kAfChunk;
#pragma omp simd
      for (std::size_t k = 0; k < cnt; ++k) {
        const T f = ir * ic[c0 + k];
        buf[k] = (f > cap ? cap : f) * gr[c0 + k];
      }
      grad_stats<T>(buf, cnt, lanes, &bad);
    }
  }
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
                  double decay, double scale, std::size_t rows, std::size_t cols) {
  T* p = static_cast<T*>(param);
  const T* g = static_cast<const T*>(grad);
  const T* rv = static_cast<const T*>(row_var);
  const T* __restrict ic = static_cast<const T*>(inv_col);
  const T cap = af_cap<T>(eps_sq), dec = T(decay), s = T(scale);
  for (std::size_t r = 0; r < rows; ++r) {
    const T ir = af_inv_row(rv[r]);
    T* __restrict pr = p + r * cols;
    const T* __restrict gr = g + r * cols;
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
          pass_probe_read,   pass_probe_rw_out16, pass_probe_rw_out32, pass_probe_half_rw};
}
