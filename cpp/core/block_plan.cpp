#include "core/block_plan.hpp"

#include <algorithm>

#include "core/dispatch.hpp"
#include "core/parallel.hpp"

namespace fastoptim {
namespace {
#include "core/hash32.hpp"

std::size_t blocks_of(std::size_t n) { return (n + kBlock8Size - 1) / kBlock8Size; }
}  // namespace

BlockPlan::BlockPlan(const std::string& rule, py::list params, py::dict codes, py::dict scales, bool maximize,
                     py::object options, std::uint32_t seed)
    : StepPlan(rule, params, maximize, options, BindParamsOnly{}), seed_(seed) {
  takes_row_sparse_ = false;
  const RuleInfo& info = rule_info(rule_);
  const RuleSpec& spec = *info.spec;
  if (!info.block8_supports || !active_isa().rule[rule_].block8)
    throw py::value_error(std::string("state_bits: ") + spec.name + " has no 8-bit state variant");
  if (dtype_ != kF32) throw py::type_error("params: 8-bit optimizer state needs float32 params");
  if (py::len(codes) != py::len(scales))
    throw py::value_error("scales: one list of scales per list of codes");
  const auto code_lists = state_streams(codes, "codes");
  bool present[kMaxState];
  std::copy(flags_.state_present, flags_.state_present + kMaxState, present);
  for (bool& p : flags_.state_present) p = false;
  const auto scale_lists = state_streams(scales, "scales");
  for (int k = 0; k < kMaxState; ++k)
    if (present[k] != flags_.state_present[k])
      throw py::value_error(std::string("scales: must name the same states as codes ('") + spec.state[k].name + "')");
  // The variants the rule's 8-bit kernel implements (Adam without the AMSGrad maximum...).
  if (!info.block8_supports(flags_))
    throw py::value_error(std::string("state_bits: the 8-bit state of ") + spec.name + " supports " +
                          info.block8_variants);
  const std::size_t n = num_tensors();
  codes_.resize(n);
  scales_.resize(n);
  static const py::dtype u8 = py::dtype("uint8"), f32 = py::dtype::of<float>();
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t size = seg_.offsets[i + 1] - seg_.offsets[i];
    block_offsets_.push_back(block_offsets_.back() + blocks_of(size));
    codes_[i].fill(nullptr);
    scales_[i].fill(nullptr);
    for (int k = 0; k < info.n_state; ++k) {
      if (!present[k]) continue;
      const Label cl{"codes", spec.state[k].name, i}, sl{"scales", spec.state[k].name, i};
      const ArrayRef c = check_plain(code_lists[k][i], cl, u8, size);
      const ArrayRef s = check_plain(scale_lists[k][i], sl, f32, blocks_of(size));
      bind(code_lists[k][i], c, cl);
      bind(scale_lists[k][i], s, sl);
      codes_[i][k] = static_cast<std::uint8_t*>(c.data);
      scales_[i][k] = static_cast<float*>(s.data);
    }
  }
  written_.seal();
}

void BlockPlan::apply(double gmul) {
  require_loaded();
  loaded_ = false;
  const ScalarsBuffer scalars = make_scalars(gmul);
  const Block8Fn kernel = active_isa().rule[rule_].block8;
  const std::uint32_t step_key = mix32(seed_ ^ mix32(std::uint32_t(step_) ^ 0x27d4eb2dU));
  {
    py::gil_scoped_release nogil;
    // Blocks as units of kBlock8Size "elements", so the size threshold for threads applies alike;
    // each thread's blocks go to the kernel as one run per tensor they touch.
    parallel_ranges(num_blocks() * kBlock8Size, kBlock8Size, [&](std::size_t lo, std::size_t hi) {
      const std::size_t b_lo = lo / kBlock8Size, b_hi = hi / kBlock8Size;
      std::size_t t = std::size_t(std::upper_bound(block_offsets_.begin(), block_offsets_.end(), b_lo) -
                                  block_offsets_.begin()) - 1;
      for (std::size_t b = b_lo; b < b_hi; ++t) {
        const std::size_t j = b - block_offsets_[t], blocks = std::min(b_hi, block_offsets_[t + 1]) - b;
        if (blocks == 0) continue;  // an empty tensor
        const std::size_t first = j * kBlock8Size;
        const std::size_t size = seg_.offsets[t + 1] - seg_.offsets[t];
        Block8Run run;
        run.p = static_cast<float*>(seg_.ptrs[t][0]) + first;
        run.g = static_cast<const float*>(seg_.ptrs[t][1]) + first;
        for (int k = 0; k < kMaxState; ++k) {
          run.codes[k] = codes_[t][k] ? codes_[t][k] + first : nullptr;
          run.scale[k] = scales_[t][k] ? scales_[t][k] + j : nullptr;
        }
        run.n = std::min(blocks * kBlock8Size, size - first);
        run.step_key = step_key;
        run.tensor = std::uint32_t(t);
        run.first_block = std::uint32_t(j);
        kernel(scalars.bytes, run);
        b += blocks;
      }
    });
  }
  commit_scalar_state();
}

}  // namespace fastoptim
