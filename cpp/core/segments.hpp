// Many tensors seen as one index space [0, total): a thread's range [lo, hi) is walked as
// pieces, each inside one tensor, so work splits evenly however elements fall into tensors.
// A step over row-sparse gradients sees the touched rows as its "tensors"; bases then gives
// each one's index among all elements of the plan (which keys stochastic rounding).
#pragma once
#include <algorithm>
#include <array>
#include <cstddef>
#include <vector>

#include "isa_table.hpp"

namespace fastoptim {

struct Segments {
  // Row-sparse steps walk rows scattered over a table: the memory of the piece this many ahead
  // is requested while the current one is stepped (DRAM latency would otherwise dominate).
  static constexpr std::size_t kPrefetchAhead = 8;

  std::vector<std::size_t> offsets{0};  // prefix sums of tensor sizes, size = tensors + 1
  std::vector<std::array<void*, kMaxStreams>> ptrs;  // per tensor: param, grad, state...
  std::array<std::size_t, kMaxStreams> elem_size{4, 4, 4, 4, 4, 4};  // bytes per element, by stream
  std::vector<std::size_t> bases;  // per tensor: index of its first element in the plan (empty: offsets)

  std::size_t total() const { return offsets.back(); }

  void prefetch_piece(std::size_t t, int stream_begin, int stream_end) const {
    const std::size_t len = offsets[t + 1] - offsets[t];
    for (int k = stream_begin; k < stream_end; ++k) {
      const char* p = static_cast<const char*>(ptrs[t][std::size_t(k)]);
      if (!p) continue;
      const std::size_t bytes = std::min<std::size_t>(len * elem_size[std::size_t(k)], 1024);
      for (std::size_t b = 0; b < bytes; b += 64) __builtin_prefetch(p + b, 1);
    }
  }

  // fn(streams, count, first) for each piece of [lo, hi), streams already offset to the piece,
  // first the piece's index in [0, total) (or, with bases, in the plan's elements).
  template <class F>
  void for_each_piece(std::size_t lo, std::size_t hi, int stream_begin, int stream_end, F&& fn) const {
    std::size_t t = std::size_t(std::upper_bound(offsets.begin(), offsets.end(), lo) - offsets.begin()) - 1;
    while (lo < hi) {
      if (!bases.empty() && t + kPrefetchAhead < ptrs.size())
        prefetch_piece(t + kPrefetchAhead, stream_begin, stream_end);
      const std::size_t end = std::min(offsets[t + 1], hi);
      if (end > lo) {
        void* shifted[kMaxStreams] = {};
        const std::size_t skip = lo - offsets[t];
        for (int k = stream_begin; k < stream_end; ++k)
          shifted[k] = ptrs[t][k] ? static_cast<char*>(ptrs[t][k]) + skip * elem_size[k] : nullptr;
        fn(static_cast<void* const*>(shifted), end - lo, bases.empty() ? lo : bases[t] + skip);
      }
      lo = end;
      ++t;
    }
  }
};

}  // namespace fastoptim
