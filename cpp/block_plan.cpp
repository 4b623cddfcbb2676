#include "block_plan.hpp"

#include <algorithm>

#include "dispatch.hpp"
#include "parallel.hpp"

namespace fastoptim {
namespace {
#include "kernels/hash32.hpp"

std::size_t blocks_of(std::size_t n) { return (n + kBlock8Size - 1) / kBlock8Size; }
}  // namespace

BlockPlan::BlockPlan(const std::string& rule, py::list params, py::dict codes, py::dict scales, bool maximize,
                     bool nesterov, bool decoupled, std::uint32_t seed)
    : StepPlan(rule, params, maximize, nesterov, decoupled, BindParamsOnly{}), seed_(seed) {
  const RuleSpec& spec = rule_spec(rule_);
  if (!active_isa().block8[rule_])
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
      throw py::value_error(std::string("scales: must name the same states as codes ('") + spec.state[k] + "')");
  // What the 8-bit kernels implement: Adam's two moments (no AMSGrad maximum), RMSprop's square
  // average and momentum buffer (not centered), SGD's momentum buffer.
  const bool unsupported = (rule_ == kAdam && (present[2] || !present[0] || !present[1])) ||
                           (rule_ == kRmsprop && (present[1] || !present[0])) || (rule_ == kSgd && !present[0]);
  if (unsupported)
    throw py::value_error(std::string("state_bits: 8-bit state supports ") +
                          "Adam/AdamW without amsgrad, RMSprop without centered, and SGD with momentum");
  const std::size_t n = num_tensors();
  codes_.resize(n);
  scales_.resize(n);
  static const py::dtype u8 = py::dtype("uint8"), f32 = py::dtype::of<float>();
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t size = seg_.offsets[i + 1] - seg_.offsets[i];
    block_offsets_.push_back(block_offsets_.back() + blocks_of(size));
    codes_[i].fill(nullptr);
    scales_[i].fill(nullptr);
    for (int k = 0; k < spec.n_state; ++k) {
      if (!present[k]) continue;
      const Label cl{"codes", spec.state[k], i}, sl{"scales", spec.state[k], i};
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
  const AnyScalars scalars = make_scalars(rule_, hyper_, flags_, step_, gmul);
  const Block8Fn kernel = active_isa().block8[rule_];
  const std::uint32_t step_key = mix32(seed_ ^ mix32(std::uint32_t(step_) ^ 0x27d4eb2dU));
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
      kernel(&scalars, run);
      b += blocks;
    }
  });
}

}  // namespace fastoptim
