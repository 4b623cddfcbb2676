// lowbias32 (C. Wellons): a cheap, well-mixed 32-bit integer hash, used to derive the
// stochastic-rounding noise of the 8-bit state from (seed, step, tensor, block, element).
// No includes and no namespace: included inside the namespace of each user.
#pragma once

inline std::uint32_t mix32(std::uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

// The random key of block `block` of tensor `tensor` at a step keyed step_key.
inline std::uint32_t block_key(std::uint32_t step_key, std::uint32_t tensor, std::uint32_t block) {
  return mix32(step_key ^ mix32(tensor * 0x9e3779b1U ^ block));
}
