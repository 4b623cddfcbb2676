// Streaming probes of the matrix passes' byte shapes (Adafactor's and Muon's element-wise
// passes are compared against these, bench/matrix_roof.py): the plainest float32 loop that
// reads and writes the same streams per element as the pass, nothing else. Included by
// matrix/adafactor_kernels.hpp inside each ISA's namespace, so each ISA copy has its own; the
// shape with one read stream and one read-write stream is core/stream_probe.hpp's (n_rw = 1).
#pragma once

// Σ a[i] (+ b[i]): one or two read-only streams (Adafactor's passes 1 and 2). The sum is
// returned so the loads are not dead; `omp simd reduction` lets it reassociate.
inline float pass_probe_read(const float* __restrict a, const float* __restrict b, std::size_t n) {
  float s = 0.0f;
  if (b) {
#pragma omp simd reduction(+ : s)
    for (std::size_t i = 0; i < n; ++i) s += a[i] + b[i];
  } else {
#pragma omp simd reduction(+ : s)
    for (std::size_t i = 0; i < n; ++i) s += a[i];
  }
  return s;
}

// a = c·a + g, o = a's top 16 bits: one read, one read-write and one 2-byte write-only stream
// (Muon's momentum pass with bfloat16 update bits).
inline void pass_probe_rw_out16(float* __restrict a, const float* __restrict g, std::uint16_t* __restrict o,
                                std::size_t n) {
  const float c = 0.5f;
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    const float x = c * a[i] + g[i];
    a[i] = x;
    std::uint32_t bits;
    __builtin_memcpy(&bits, &x, 4);
    o[i] = std::uint16_t(bits >> 16);
  }
}

// a = c·a + g, o = a: one read, one read-write and one 4-byte write-only stream (Muon's
// momentum pass with float32 update values, the NumPy API).
inline void pass_probe_rw_out32(float* __restrict a, const float* __restrict g, float* __restrict o,
                                std::size_t n) {
  const float c = 0.5f;
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    const float x = c * a[i] + g[i];
    a[i] = x;
    o[i] = x;
  }
}

// a = c·a + widen(h): one 2-byte read stream and one read-write stream (Muon's apply pass with
// bfloat16 update bits).
inline void pass_probe_half_rw(float* __restrict a, const std::uint16_t* __restrict h, std::size_t n) {
  const float c = 0.5f;
#pragma omp simd
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t bits = std::uint32_t(h[i]) << 16;
    float x;
    __builtin_memcpy(&x, &bits, 4);
    a[i] = c * a[i] + x;
  }
}

// The same streams as Adafactor's factored pass 3 (one row at a time), over `rows` rows of
// `cols` columns (`stride` apart), with the vector of one value per column (1/√col_var) that it
// reads beside every row. A wide matrix's rows push that vector out of L1 between two uses, so
// each row reads it again from L2: a stream of its own, which the byte count above (12 B per
// element) leaves out. This probe includes it; nothing else.
//   rw_cols:  a[r,c] = a[r,c]/2 + g[r,c]·w[c]
inline void pass_probe_rw_cols(float* __restrict a, const float* __restrict g, const float* __restrict w,
                               std::size_t rows, std::size_t cols, std::size_t stride) {
  for (std::size_t r = 0; r < rows; ++r) {
    float* __restrict ar = a + r * stride;
    const float* __restrict gr = g + r * stride;
#pragma omp simd
    for (std::size_t c = 0; c < cols; ++c) ar[c] = 0.5f * ar[c] + gr[c] * w[c];
  }
}
