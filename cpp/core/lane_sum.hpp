// The sum of 16 double lanes, added pairwise in a fixed order (lane i + lane i+8, then +4, +2,
// +1): how every deterministic reduction (the gradient norm, Adafactor's and LAMB's norms)
// turns its fixed lanes into one value, the same bits on every ISA and thread count.
#pragma once

namespace fastoptim {

inline double pairwise_lane_sum(const double* lanes) {
  double a[16];
  for (int i = 0; i < 16; ++i) a[i] = lanes[i];
  for (int w = 8; w >= 1; w /= 2)
    for (int i = 0; i < w; ++i) a[i] = a[i] + a[i + w];
  return a[0];
}

}  // namespace fastoptim
