// A StepPlan binds one parameter group's params and state buffers, validated once, to an
// update rule. Each step validates only what changes per step (grads, hyperparameters),
// then runs the optional read-only gradient pass (norm for clipping, non-finite check) and
// the update in one parallel region each, with the GIL released.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "core/buffers.hpp"
#include "core/row_sparse.hpp"
#include "core/rule_registry.hpp"
#include "core/segments.hpp"

namespace fastoptim {

namespace py = pybind11;

struct GradStats {
  double sum_squares;  // Σ g², in double, fixed summation order
  bool finite;
};

class StepPlan {
 public:
  // state: {name: [one array per param]} for the rule's state buffers, and for its scalar
  // state (NAdam's mu_product...) 1-element float32/float64 arrays, one per param or one for
  // all, holding one value, read before and rewritten after each step.
  // options: {option name: bool} for the rule's options (SGD's nesterov...); absent: False.
  // outputs (optional): mixed precision; params are then float32 master weights and outputs
  // the float16/bfloat16 params written from them each step; grads are in that format too.
  // State arrays of bfloat16 select bfloat16 state (float32 params or masters), rounded to
  // nearest even or, with stochastic_rounding, stochastically from a hash of (seed, step).
  StepPlan(const std::string& rule, py::list params, py::dict state, bool maximize, py::object options,
           py::object outputs = py::none(), bool stochastic_rounding = false, std::uint32_t seed = 0);
  virtual ~StepPlan() = default;

  // All in one: load, optional gradient pass, apply. Returns (grad_norm or None, found_inf);
  // when found_inf and check_finite, nothing is written.
  py::tuple step(py::list grads, py::object hyper, std::int64_t step, double grad_scale,
                 py::object max_grad_norm, bool check_finite);

  // The same in parts, for optimizers with several groups (one global norm, all groups
  // validated before any is written): load() validates grads and hyperparameters and keeps
  // them; grad_stats() reads the loaded grads; apply(gmul) writes and forgets them.
  // With addresses=true, grads holds integer addresses instead of arrays (fastoptim.torch's
  // lean path): the caller guarantees that each addresses a C-contiguous buffer with its
  // param's dtype and shape; null, misaligned and aliasing addresses are still refused.
  // Any entry may instead be a row-sparse gradient, a tuple (indices, values) (core/row_sparse.hpp):
  // only the rows it names are stepped (float32/float64 params; not with 8-bit state).
  void load(py::list grads, py::handle hyper, std::int64_t step, bool addresses = false);
  GradStats grad_stats() const;
  virtual void apply(double gmul);

  // Gradients of the loaded step against buffers another plan of the same step writes.
  void check_grads_disjoint(const WrittenRanges& other) const;
  const WrittenRanges& written() const { return written_; }

  std::size_t numel() const { return seg_.total(); }
  // Elements the loaded step writes (fewer than numel() with row-sparse gradients).
  std::size_t step_numel() const { return active_seg().total(); }
  std::size_t num_tensors() const { return seg_.ptrs.size(); }
  const char* dtype() const { return dtype_name(dtype_); }
  py::object mixed_dtype() const {
    return low_ >= 0 ? py::object(py::str(low_dtype_name(LowDtype(low_)))) : py::object(py::none());
  }
  const char* rule() const { return rule_spec(rule_).name; }

 protected:
  // For subclasses that hold their state differently: binds and checks the params only.
  struct BindParamsOnly {};
  StepPlan(const std::string& rule, py::list params, bool maximize, py::object options, BindParamsOnly);
  // The lists of a {state name: [one array per param]} dict, by stream; marks them present.
  std::array<py::list, kMaxState> state_streams(py::dict state, const char* what);
  void require_loaded() const;
  // Reads (and checks) the scalar state for the loaded step.
  void load_scalar_state();
  // The step's scalars (from the loaded scalar state; its new values kept for commit).
  ScalarsBuffer make_scalars(double gmul);
  // Writes the scalar state computed by make_scalars (after the kernels ran).
  void commit_scalar_state();
  // Keeps and checks an array the plan writes (written ranges and the array as it is now).
  void bind(py::handle obj, const ArrayRef& ref, const Label& label);
  // Binds scalar state j (a list of 1-element arrays: one, or one per param).
  void bind_scalar_state(int j, py::handle lists, const char* what);
  // The pieces the loaded step walks: every tensor whole, or with row-sparse gradients the rows
  // they name.
  const Segments& active_seg() const { return sparse_step_ ? step_seg_ : seg_; }

 private:
  void bind_outputs(py::handle outputs);
  void load_grads(py::list grads, bool addresses);
  void build_sparse_segments();
  ArrayRef grad_at_address(py::handle address, std::size_t i, const Label& label) const;

 protected:
  Rule rule_;
  RuleFlags flags_;
  Dtype dtype_ = kF32;
  int low_ = -1;  // LowDtype of grads and outputs in mixed precision, else -1
  bool bf16_state_ = false;
  bool stochastic_ = false;
  std::uint32_t seed_ = 0;
  Segments seg_;
  WrittenRanges written_;
  BoundArrays bound_;
  py::list params_;  // keeps params alive and gives grads their expected shapes
  py::list state_;   // keeps state buffers alive
  double hyper_[kMaxHyper] = {};
  // Scalar state: per name, the 1-element arrays it is kept in, and the values to write next.
  std::vector<Counter> scalar_state_[kMaxScalarState];
  ScalarState scalar_state_now_, next_scalar_state_;
  std::int64_t step_ = 0;
  bool loaded_ = false;
  // Whether the plan's kernels can step rows alone (not 8-bit block-wise state).
  bool takes_row_sparse_ = true;
  // The loaded step's gradients as memory ranges (alias checks), its row-sparse gradients by
  // tensor (row_len 0: dense), and the pieces it walks when any is row-sparse.
  std::vector<ArrayRef> grad_refs_;
  std::vector<RowSparseGrad> sparse_;
  Segments step_seg_;
  bool sparse_step_ = false;

 private:
  friend class PlanClaim;
  std::atomic<bool> busy_{false};
};

// Holds a plan for one step: the gradients a step loads live in the plan until it is applied,
// so a second thread stepping the same plan at the same time is refused (RuntimeError), not
// interleaved. The Python optimizers serialize their steps with a lock before they get here.
class PlanClaim {
 public:
  explicit PlanClaim(StepPlan& plan);
  PlanClaim(PlanClaim&& other) noexcept : plan_(other.plan_) { other.plan_ = nullptr; }
  PlanClaim(const PlanClaim&) = delete;
  PlanClaim& operator=(const PlanClaim&) = delete;
  PlanClaim& operator=(PlanClaim&&) = delete;
  ~PlanClaim();

 private:
  StepPlan* plan_;
};

// One optimizer step over several plans (the groups of an optimizer, or a group's 8-bit and
// 32-bit parts), all or nothing: every plan claimed, every gradient and hyperparameter of
// every plan validated (and every gradient checked against every buffer any plan writes),
// then one global gradient pass if needed, then every plan applied and every counter (the
// step counts the caller keeps, 1-element int64/float32/float64 arrays) advanced by one,
// without returning to Python in between, so that neither an error nor a KeyboardInterrupt
// can leave some groups stepped and others not. Returns (grad_norm or None, found_inf, skipped).
py::tuple step_plans(py::list plans, py::list grads, py::list hypers, py::list steps, py::list counters,
                     double grad_scale, py::object max_grad_norm, bool check_finite, bool addresses);

// Gradient multiplier of the unscale/clip pipeline (torch's clip_grad_norm_ semantics) from
// the sum of squares of the *scaled* gradients. Validates grad_scale and max_grad_norm.
// Returns {norm of the unscaled gradients, multiplier to apply to the stored gradients}.
struct GradMultiplier {
  double norm, gmul;
};
GradMultiplier grad_multiplier(double sum_squares, double grad_scale, py::object max_grad_norm);
void check_grad_pipeline(double grad_scale, py::object max_grad_norm);

// Parses hyperparameters given as a sequence in rule_spec order, or as a parameter group (a dict
// of options, read by the spec's names: "betas[0]" is item 0 of the group's "betas").
void parse_hyper(Rule r, py::handle hyper, double* out);
// Parses {option name: bool} against the rule's options into f.option; unknown names raise.
void parse_options(Rule r, py::object options, RuleFlags& f);

}  // namespace fastoptim
