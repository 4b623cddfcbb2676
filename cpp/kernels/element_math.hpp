// Element helpers shared by the kernels: correctly rounded square root and a NaN-propagating
// maximum, written with compiler builtins so that no out-of-line library template is
// instantiated inside a per-ISA translation unit (those could be merged across ISAs by the
// linker). Included only from isa_kernels.cpp, inside its per-ISA anonymous namespace.
#pragma once

inline float root(float x) { return __builtin_sqrtf(x); }
inline double root(double x) { return __builtin_sqrt(x); }

// torch.maximum semantics: NaN if either side is NaN.
template <class T>
inline T max_nan(T a, T b) {
  return (a != a || a > b) ? a : b;
}

// torch.lerp(a, b, w): a + w·(b − a) for |w| < 0.5, else b − (b − a)·(1 − w).
template <class T>
inline T lerp(T a, T b, T w, T one_minus_w, bool low_weight) {
  return low_weight ? a + w * (b - a) : b - (b - a) * one_minus_w;
}
