// Muon (torch.optim.Muon, torch 2.13): the element-wise passes around the Newton–Schulz
// orthogonalisation, whose matrix products the caller runs with the BLAS it already has
// (torch's matmul for fastoptim.torch, NumPy's for the NumPy API). Not a rule of the
// element-wise registry (cpp/rules/): the step of a param needs its whole update matrix between
// the two passes. Included by core/isa_kernels.cpp inside each ISA's anonymous namespace, after
// formats/element_math.hpp; plain loops, no FMA contraction: every ISA gives the same bits.
//
// The update storage U is the bfloat16 matrix Newton–Schulz starts from and returns: either its
// bits (std::uint16_t; fastoptim.torch hands them to torch as a bfloat16 tensor) or the same
// values held in float (MuonF32; the NumPy API multiplies float32 matrices).
#pragma once

struct MuonF32 {};  // update held as float32 values that are bfloat16 numbers
template <class U> struct MuonUpdate { using type = std::uint16_t; };
template <> struct MuonUpdate<MuonF32> { using type = float; };

// x rounded to bfloat16 (nearest even) and stored as U. float64 goes through float32 first,
// as torch's Tensor.bfloat16() converts a double.
template <class U>
inline typename MuonUpdate<U>::type muon_store(float x) {
  if constexpr (std::is_same_v<U, MuonF32>)
    return widen(BF16{}, narrow(BF16{}, x));
  else
    return narrow(BF16{}, x);
}
template <class U>
inline float muon_load(typename MuonUpdate<U>::type u) {
  if constexpr (std::is_same_v<U, MuonF32>)
    return u;
  else
    return widen(BF16{}, u);
}

// Momentum pass, one read of G, one read and write of B, one write of u:
//   B = lerp(B, G, 1 − μ)                         (torch.lerp's two branches, weights in T)
//   U = nesterov ? lerp(G, B, μ) : B
//   u = bfloat16(U)                               (Newton–Schulz's input, as torch's .bfloat16())
template <class T, class U>
void muon_momentum(void* buf, const void* grad, void* update, std::size_t n, double momentum, bool nesterov) {
  using S = typename MuonUpdate<U>::type;
  T* __restrict b = static_cast<T*>(buf);
  const T* __restrict g = static_cast<const T*>(grad);
  S* __restrict u = static_cast<S*>(update);
  const T w = T(1.0 - momentum), wc = T(1) - w;  // torch's lerp weight 1 − μ and its complement in T
  const bool low = (w < T(0) ? -w : w) < T(0.5);
  const T v = T(momentum), vc = T(1) - v;  // the Nesterov blend's weight μ
  const bool low_v = (v < T(0) ? -v : v) < T(0.5);
  if (nesterov) {
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      const T gi = g[i];
      const T bi = lerp(b[i], gi, w, wc, low);
      b[i] = bi;
      u[i] = muon_store<U>(float(lerp(gi, bi, v, vc, low_v)));
    }
  } else {
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      const T bi = lerp(b[i], g[i], w, wc, low);
      b[i] = bi;
      u[i] = muon_store<U>(float(bi));
    }
  }
}

// Apply pass, one read of u, one read and write of θ (torch's mul_ then add_, each rounded to T):
//   θ = θ·(1 − γλ)                               (decoupled weight decay; `decay` = 1 − γλ)
//   θ = θ + (−γ')·u                              (γ' = AdjustLR(γ, shape); `neg_lr` = −γ')
template <class T, class U>
void muon_apply(void* param, const void* update, std::size_t n, double decay, double neg_lr) {
  using S = typename MuonUpdate<U>::type;
  T* __restrict p = static_cast<T*>(param);
  const S* __restrict u = static_cast<const S*>(update);
  const T c = T(decay), a = T(neg_lr);
  if (c == T(1)) {  // no weight decay: θ·1 is θ
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) p[i] = p[i] + a * T(muon_load<U>(u[i]));
  } else {
#pragma omp simd
    for (std::size_t i = 0; i < n; ++i) {
      const T pi = p[i] * c;
      p[i] = pi + a * T(muon_load<U>(u[i]));
    }
  }
}

// The NumPy API's Newton–Schulz in float32 with every intermediate matrix rounded to bfloat16
// where torch's bfloat16 arithmetic rounds it:
//   out = bfloat16(β·base + α·prod)              (torch.addmm(base, A, B, beta=β, alpha=α))
// out may be prod or base (element by element, in place).
inline void muon_blend_bf16(float* out, const float* prod, const float* base, std::size_t n, double alpha,
                            double beta) {
  const float a = float(alpha), b = float(beta);
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) out[i] = widen(BF16{}, narrow(BF16{}, b * base[i] + a * prod[i]));
}
//   x = bfloat16(x / d)                          (the division by the clamped Frobenius norm)
inline void muon_div_bf16(float* x, std::size_t n, double divisor) {
  const float d = float(divisor);
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) x[i] = widen(BF16{}, narrow(BF16{}, x[i] / d));
}
