// Many tensors seen as one index space [0, total): a thread's range [lo, hi) is walked as
// pieces, each inside one tensor, so work splits evenly however elements fall into tensors.
#pragma once
#include <algorithm>
#include <array>
#include <cstddef>
#include <vector>

#include "isa_table.hpp"

namespace fastoptim {

struct Segments {
  std::vector<std::size_t> offsets{0};  // prefix sums of tensor sizes, size = tensors + 1
  std::vector<std::array<void*, kMaxStreams>> ptrs;  // per tensor: param, grad, state...
  std::array<std::size_t, kMaxStreams> elem_size{4, 4, 4, 4, 4, 4};  // bytes per element, by stream

  std::size_t total() const { return offsets.back(); }

  // fn(streams, count, first) for each piece of [lo, hi), streams already offset to the piece,
  // first the piece's index in [0, total).
  template <class F>
  void for_each_piece(std::size_t lo, std::size_t hi, int stream_begin, int stream_end, F&& fn) const {
    std::size_t t = std::size_t(std::upper_bound(offsets.begin(), offsets.end(), lo) - offsets.begin()) - 1;
    while (lo < hi) {
      const std::size_t end = std::min(offsets[t + 1], hi);
      if (end > lo) {
        void* shifted[kMaxStreams] = {};
        const std::size_t skip = lo - offsets[t];
        for (int k = stream_begin; k < stream_end; ++k)
          shifted[k] = ptrs[t][k] ? static_cast<char*>(ptrs[t][k]) + skip * elem_size[k] : nullptr;
        fn(static_cast<void* const*>(shifted), end - lo, lo);
      }
      lo = end;
      ++t;
    }
  }
};

}  // namespace fastoptim
