// Element helpers shared by the kernels: correctly rounded square root and a NaN-propagating
// maximum, written with compiler builtins so that no out-of-line library template is
// instantiated inside a per-ISA translation unit (those could be merged across ISAs by the
// linker). Included only from isa_kernels*.cpp, inside their per-ISA anonymous namespace, after
// <cstddef>, <cstdint> and <type_traits>.
#pragma once

inline float root(float x) { return __builtin_sqrtf(x); }
inline double root(double x) { return __builtin_sqrt(x); }

// torch.sign semantics: −1, 0 or 1, and 0 for NaN (Rprop, Lion).
template <class T>
inline T sign(T x) {
  return T(T(0) < x) - T(x < T(0));
}

// torch.maximum semantics: NaN if either side is NaN.
template <class T>
inline T max_nan(T a, T b) {
  return (a != a || a > b) ? a : b;
}

inline std::uint32_t as_bits(float x) {
  std::uint32_t u;
  __builtin_memcpy(&u, &x, 4);
  return u;
}
inline float from_bits(std::uint32_t u) {
  float x;
  __builtin_memcpy(&x, &u, 4);
  return x;
}

// Low-precision storage: IEEE binary16 and bfloat16, each 16 bits in a uint16_t, told apart by
// a tag type. Conversions are exact IEEE (widening) and round-to-nearest-even (narrowing),
// written as integer/float operations that vectorize on every ISA and give the same bits.
struct F16 {};
struct BF16 {};
struct BF16SR {};  // bfloat16 state rounded stochastically
template <class G> struct Storage { using type = G; };
template <> struct Storage<F16> { using type = std::uint16_t; };
template <> struct Storage<BF16> { using type = std::uint16_t; };
template <> struct Storage<BF16SR> { using type = std::uint16_t; };
template <class G> using storage_t = typename Storage<G>::type;

inline float widen(F16, std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000U) << 16;
  const std::uint32_t em = h & 0x7fffU;
  const float normal = from_bits((em << 13) + (112U << 23));        // rebias 15 -> 127
  const float special = from_bits((em << 13) | 0x7f800000U);        // Inf, NaN (payload kept)
  const float subnormal = float(std::int32_t(em)) * 5.9604644775390625e-8f;  // em · 2^-24, exact
  const float mag = em >= 0x7c00U ? special : (em >= 0x0400U ? normal : subnormal);
  return from_bits(as_bits(mag) | sign);
}
inline float widen(BF16, std::uint16_t b) { return from_bits(std::uint32_t(b) << 16); }

inline std::uint16_t narrow(F16, float x) {
  const std::uint32_t bits = as_bits(x);
  const std::uint32_t sign = (bits >> 16) & 0x8000U;
  const std::uint32_t f = bits & 0x7fffffffU;
  // Inf/NaN and values from 65536 up (smaller ones that round past 65504 carry into Inf
  // in the normal path): Inf, or a quiet NaN.
  const std::uint32_t special = f > 0x7f800000U ? 0x7e00U : 0x7c00U;
  // Below 2^-14 (subnormal or zero): let a float addition round at the subnormal step.
  const std::uint32_t magic = 126U << 23;  // 0.5f: adding it puts 2^-24 at the last mantissa bit
  const std::uint32_t sub = as_bits(from_bits(f) + from_bits(magic)) - magic;
  // Normal: rebias and round the 13 dropped bits to nearest, ties to even.
  const std::uint32_t odd = (f >> 13) & 1U;
  const std::uint32_t normal = (f - (112U << 23) + 0xfffU + odd) >> 13;
  const std::uint32_t mag = f >= 0x47800000U ? special : (f < 0x38800000U ? sub : normal);
  return std::uint16_t(mag | sign);
}
inline std::uint16_t narrow(BF16, float x) {
  const std::uint32_t bits = as_bits(x);
  const std::uint32_t rounded = (bits + 0x7fffU + ((bits >> 16) & 1U)) >> 16;
  const std::uint32_t nan = (bits >> 16) | 0x40U;  // quiet NaN, sign and payload top kept
  return std::uint16_t((bits & 0x7fffffffU) > 0x7f800000U ? nan : rounded);
}

// bfloat16 rounded stochastically: the 16 dropped bits decide with probability equal to their
// value (unbiased); noise supplies 16 random bits. NaN stays a quiet NaN.
inline std::uint16_t narrow_stochastic(float x, std::uint32_t noise) {
  const std::uint32_t bits = as_bits(x);
  const std::uint32_t rounded = (bits + (noise & 0xffffU)) >> 16;
  const std::uint32_t nan = (bits >> 16) | 0x40U;
  return std::uint16_t((bits & 0x7fffffffU) > 0x7f800000U ? nan : rounded);
}

template <class G>
inline auto load(const storage_t<G>* p, std::size_t i) {
  if constexpr (std::is_same_v<G, F16> || std::is_same_v<G, BF16>) return widen(G{}, p[i]);
  else if constexpr (std::is_same_v<G, BF16SR>) return widen(BF16{}, p[i]);
  else return p[i];
}

// A value stored as S: itself, float16 (nearest even), or bfloat16 rounded to nearest even or
// stochastically (noise: a Weyl sequence over the step's global element index, salted per
// stream). Used for the state and for the 16-bit params written from float32 masters.
template <class S, class T>
inline storage_t<S> store(T x, std::uint32_t noise) {
  if constexpr (std::is_same_v<S, F16>) return narrow(F16{}, float(x));
  else if constexpr (std::is_same_v<S, BF16>) return narrow(BF16{}, float(x));
  else if constexpr (std::is_same_v<S, BF16SR>) return narrow_stochastic(float(x), noise);
  else return x;
}
inline std::uint32_t weyl(std::uint32_t key, std::size_t index) { return key + std::uint32_t(index) * 0x9e3779b9U; }

// torch.lerp(a, b, w): a + w·(b − a) for |w| < 0.5, else b − (b − a)·(1 − w).
template <class T>
inline T lerp(T a, T b, T w, T one_minus_w, bool low_weight) {
  return low_weight ? a + w * (b - a) : b - (b - a) * one_minus_w;
}
