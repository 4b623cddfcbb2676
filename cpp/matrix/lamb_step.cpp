#include "matrix/lamb_step.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <utility>

#include "core/dispatch.hpp"
#include "core/lane_sum.hpp"
#include "core/parallel.hpp"

namespace fastoptim {
namespace {

constexpr std::size_t kLanes = 16;

// x rounded to the tensor's dtype (pytorch_optimizer computes the norms as tensors of it).
double in_dtype(Dtype d, double x) { return d == kF32 ? double(float(x)) : x; }

void store(Dtype d, void* out, std::size_t i, double x) {
  if (d == kF32) static_cast<float*>(out)[i] = float(x);
  else static_cast<double*>(out)[i] = x;
}

// Elements [off, off + n) of one tensor.
struct Block {
  std::size_t tensor, off, n;
};

const char* at(const void* base, std::size_t elems, Dtype d) {
  return static_cast<const char*>(base) + elems * dtype_size(d);
}
char* at(void* base, std::size_t elems, Dtype d) { return static_cast<char*>(base) + elems * dtype_size(d); }

template <class F>
void for_each(std::size_t count, std::size_t total, F&& fn) {
  const int nt = threads_for(total);
  if (nt <= 1 || count < 2) {
    for (std::size_t b = 0; b < count; ++b) fn(b);
    return;
  }
  struct Ctx {
    F* fn;
  } ctx{&fn};
  run_parallel(
      nt, int(count), [](void* p, int b) { (*static_cast<Ctx*>(p)->fn)(std::size_t(b)); }, &ctx);
}

}  // namespace

double lamb_step(const std::vector<LambTensor>& ts, const std::vector<LambHyper>& hypers, const LambPreNorm& pre,
                 double* pass_seconds) {
  const IsaTable& isa = active_isa();
  using Clock = std::chrono::steady_clock;
  auto timed = [pass_seconds](int pass, auto&& fn) {
    if (!pass_seconds) return fn();
    const auto t0 = Clock::now();
    fn();
    pass_seconds[pass] = std::chrono::duration<double>(Clock::now() - t0).count();
  };
  if (pass_seconds) pass_seconds[0] = pass_seconds[1] = pass_seconds[2] = 0.0;
  std::vector<Block> blocks;
  std::vector<std::size_t> first(ts.size() + 1, 0);
  std::size_t total = 0;
  for (std::size_t i = 0; i < ts.size(); ++i) {
    first[i] = blocks.size();
    total += ts[i].numel;
    for (std::size_t off = 0; off < ts[i].numel; off += kLambBlock)
      blocks.push_back({i, off, std::min(kLambBlock, ts[i].numel - off)});
  }
  first[ts.size()] = blocks.size();
  // Per block: 16 lanes of Σp'², then 16 of Σu² (pass 0 uses the first 16 for Σg²).
  std::vector<double> lanes(blocks.size() * 2 * kLanes, 0.0);

  // Pass 0 (pre_norm): the global gradient norm, from each tensor's norm in its dtype as
  // pytorch_optimizer stacks them (float32 squares summed).
  double scale = 1.0;
  if (pre.enabled && pre.max_grad_norm != 0.0) {
    timed(0, [&] {
      for_each(blocks.size(), total, [&](std::size_t bi) {
        const Block& b = blocks[bi];
        const LambTensor& t = ts[b.tensor];
        double bad = 0.0;
        isa.grad_stats[t.dtype](at(t.grad, b.off, t.dtype), b.n, &lanes[bi * 2 * kLanes], &bad);
      });
    });
    float sum = 0.0f;
    for (std::size_t i = 0; i < ts.size(); ++i) {
      double g2 = 0.0;
      for (std::size_t b = first[i]; b < first[i + 1]; ++b) g2 += pairwise_lane_sum(&lanes[b * 2 * kLanes]);
      const float norm = float(std::sqrt(g2));
      sum += norm * norm;
    }
    const float global = std::sqrt(sum) + float(pre.eps);
    const float ratio = float(pre.max_grad_norm) / global;
    scale = ratio > 1.0f ? 1.0 : double(ratio);  // torch.clamp(max=1): NaN stays NaN
    std::fill(lanes.begin(), lanes.end(), 0.0);
  }

  // Per-step scalars of each tensor, in double (pytorch_optimizer's Python floats).
  std::vector<LambElementScalars> sc(ts.size());
  std::vector<double> step_size(ts.size());
  std::vector<char> adapt(ts.size());
  for (std::size_t i = 0; i < ts.size(); ++i) {
    const LambHyper& h = hypers[std::size_t(ts[i].hyper)];
    const double t = counter_after_step(h.counter);
    const double bias_correction1 = 1.0 - std::pow(h.beta1, t);
    step_size[i] = h.adam_debias ? h.lr : h.lr / bias_correction1;
    adapt[i] = !h.adam && (h.always_adapt || h.weight_decay != 0.0);
    LambElementScalars& s = sc[i];
    s.gmul = h.maximize ? -scale : scale;
    s.beta1 = h.beta1;
    s.beta3 = h.grad_averaging ? 1.0 - h.beta1 : 1.0;
    s.beta2 = h.beta2;
    s.one_minus_beta2 = 1.0 - h.beta2;
    s.eps = h.eps;
    s.decouple = h.weight_decouple && h.weight_decay != 0.0;
    s.coupled = !h.weight_decouple && h.weight_decay > 0.0;
    s.decay = 1.0 - h.weight_decay * (h.fixed_decay ? 1.0 : h.lr);
    s.weight_decay = h.weight_decay;
    s.coef = -step_size[i];  // the trust ratio is 1 for tensors that do not adapt
  }

  // Pass 1: the moments, Σp'² and Σu² per block (and the params of tensors that do not adapt).
  timed(1, [&] {
    for_each(blocks.size(), total, [&](std::size_t bi) {
      const Block& b = blocks[bi];
      const LambTensor& t = ts[b.tensor];
      double* l = &lanes[bi * 2 * kLanes];
      isa.lamb[t.dtype].moments(at(t.param, b.off, t.dtype), at(t.grad, b.off, t.dtype),
                                at(t.exp_avg, b.off, t.dtype), at(t.exp_avg_sq, b.off, t.dtype), b.n, sc[b.tensor],
                                !adapt[b.tensor], l, l + kLanes);
    });
  });

  // The trust ratios, from the norms in the dtype (as pytorch_optimizer's tensors hold them).
  std::vector<std::size_t> second;  // the blocks of pass 2
  std::size_t second_total = 0;
  for (std::size_t i = 0; i < ts.size(); ++i) {
    const LambTensor& t = ts[i];
    const LambHyper& h = hypers[std::size_t(t.hyper)];
    double p2 = 0.0, u2 = 0.0;
    for (std::size_t b = first[i]; b < first[i + 1]; ++b) {
      p2 += pairwise_lane_sum(&lanes[b * 2 * kLanes]);
      u2 += pairwise_lane_sum(&lanes[b * 2 * kLanes + kLanes]);
    }
    double wn = in_dtype(t.dtype, std::sqrt(p2));
    wn = wn > h.clamp ? in_dtype(t.dtype, h.clamp) : wn;  // clamp_(max=clamp): NaN stays NaN
    const double un = in_dtype(t.dtype, std::sqrt(u2));
    const double trust =
        wn == 0.0 || un == 0.0 ? 1.0 : in_dtype(t.dtype, wn / in_dtype(t.dtype, un + in_dtype(t.dtype, h.eps)));
    store(t.dtype, t.norms, 0, wn);
    store(t.dtype, t.norms, 1, un);
    store(t.dtype, t.norms, 2, trust);
    if (!adapt[i]) continue;
    sc[i].coef = -step_size[i] * trust;
    for (std::size_t b = first[i]; b < first[i + 1]; ++b) second.push_back(b);
    second_total += t.numel;
  }

  // Pass 2: the params of the tensors that adapt.
  if (!second.empty())
    timed(2, [&] {
      for_each(second.size(), second_total, [&](std::size_t k) {
        const Block& b = blocks[second[k]];
        const LambTensor& t = ts[b.tensor];
        isa.lamb[t.dtype].apply(at(t.param, b.off, t.dtype), at(t.exp_avg, b.off, t.dtype),
                                at(t.exp_avg_sq, b.off, t.dtype), b.n, sc[b.tensor]);
      });
    });

  // Every distinct step count advanced once.
  std::vector<void*> seen;
  for (const LambHyper& h : hypers) {
    if (std::find(seen.begin(), seen.end(), h.counter.data) != seen.end()) continue;
    seen.push_back(h.counter.data);
    advance(h.counter);
  }
  return scale;
}

}  // namespace fastoptim
