// A StepPlan whose optimizer state is 8-bit block-wise (kernels/blockwise8.hpp): per state
// stream, one uint8 code per element and one float32 scale per block of 256 elements of each
// tensor. float32 params only. The step is parallel over blocks, evenly split across threads.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/step_plan.hpp"

namespace fastoptim {

class BlockPlan : public StepPlan {
 public:
  // codes/scales: {state name: [one array per param]}; codes uint8 of the param's size,
  // scales float32 of ceil(size / 256). seed drives the stochastic rounding.
  BlockPlan(const std::string& rule, py::list params, py::dict codes, py::dict scales, bool maximize,
            py::object options, std::uint32_t seed);

  void apply(double gmul) override;
  std::size_t num_blocks() const { return block_offsets_.back(); }

 private:
  std::vector<std::size_t> block_offsets_{0};  // prefix sums of blocks per tensor
  std::vector<std::array<std::uint8_t*, kMaxState>> codes_;
  std::vector<std::array<float*, kMaxState>> scales_;
  std::uint32_t seed_;
};

}  // namespace fastoptim
