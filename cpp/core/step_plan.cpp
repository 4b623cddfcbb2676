#include "step_plan.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "core/dispatch.hpp"
#include "core/lane_sum.hpp"
#include "core/parallel.hpp"

namespace fastoptim {
namespace {
#include "core/hash32.hpp"

// Elements per block of the gradient-norm pass: partial sums are formed per fixed block and
// added in block order, so the norm does not depend on how blocks are shared out to threads.
constexpr std::size_t kStatBlock = 1u << 14;

// Clip coefficient as torch.nn.utils.clip_grad_norm_ forms it.
constexpr double kClipEps = 1e-6;

}  // namespace

namespace {
// Hyperparameter i of rule r as a group key (an interned str, made once) and, for "betas[1]",
// the index into the pair under the key (-1: none).
struct GroupKey {
  PyObject* key;
  Py_ssize_t index;
};
const GroupKey& group_key(Rule r, int i) {
  static std::vector<std::array<GroupKey, kMaxHyper>> keys;  // used with the GIL held
  if (keys.empty()) {
    keys.resize(kNumRules);
    for (int rr = 0; rr < kNumRules; ++rr)
      for (int j = 0; j < rule_info(rr).n_hyper; ++j) {
        const char* name = rule_spec(rr).hyper[j].name;
        const char* bracket = std::strchr(name, '[');
        const std::string key = bracket ? std::string(name, std::size_t(bracket - name)) : std::string(name);
        keys[std::size_t(rr)][std::size_t(j)] = {PyUnicode_InternFromString(key.c_str()),
                                                 bracket ? Py_ssize_t(std::atoi(bracket + 1)) : -1};
      }
  }
  return keys[std::size_t(r)][std::size_t(i)];
}

// The value of hyperparameter i ("lr", or "betas[1]": item 1 of the pair under "betas") in a
// parameter group: a dict of the optimizer's options.
py::object group_value(py::handle group, Rule r, int i) {
  const GroupKey& k = group_key(r, i);
  PyObject* v = PyDict_GetItem(group.ptr(), k.key);  // borrowed
  if (!v) throw py::value_error("hyper: the parameter group has no '" + py::str(k.key).cast<std::string>() + "'");
  if (k.index < 0) return py::reinterpret_borrow<py::object>(v);
  if (!PySequence_Check(v) || PySequence_Size(v) != 2)
    throw py::value_error("invalid " + py::str(k.key).cast<std::string>() + ": " + std::string(py::repr(v)) +
                          " (must be a pair)");
  PyObject* item = PySequence_GetItem(v, k.index);  // new reference
  if (!item) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(item);
}
}  // namespace

void parse_hyper(Rule r, py::handle hyper, double* out) {
  const RuleInfo& info = rule_info(r);
  const RuleSpec& spec = *info.spec;
  const bool group = PyDict_Check(hyper.ptr());
  if (!group && py::len(hyper) != std::size_t(info.n_hyper))
    throw py::value_error(std::string("hyper: ") + spec.name + " takes " + std::to_string(info.n_hyper) +
                          " hyperparameters");
  for (int i = 0; i < info.n_hyper; ++i) {
    py::object v = group ? group_value(hyper, r, i)
                         : py::reinterpret_borrow<py::sequence>(hyper)[std::size_t(i)];
    if (PyBool_Check(v.ptr()) || !PyNumber_Check(v.ptr()))
      throw py::type_error(std::string(spec.hyper[i].name) + " must be a real number, got " +
                           std::string(py::str(py::type::handle_of(v).attr("__name__"))));
    out[i] = PyFloat_AsDouble(v.ptr());
    if (out[i] == -1.0 && PyErr_Occurred()) throw py::error_already_set();
  }
}

void parse_options(Rule r, py::object options, RuleFlags& f) {
  if (options.is_none()) return;
  if (!py::isinstance<py::dict>(options)) throw py::type_error("options: a dict {option name: bool}");
  const RuleInfo& info = rule_info(r);
  for (auto item : py::reinterpret_borrow<py::dict>(options)) {
    const std::string key = py::str(item.first);
    int k = 0;
    while (k < info.n_options && key != info.spec->options[k]) ++k;
    if (k == info.n_options)
      throw py::value_error(std::string("options: ") + info.spec->name + " has no option '" + key + "'");
    f.option[k] = py::bool_(py::reinterpret_borrow<py::object>(item.second));
  }
}

StepPlan::StepPlan(const std::string& rule, py::list params, bool maximize, py::object options, BindParamsOnly)
    : rule_(rule_from_name(rule)), params_(params) {
  flags_.maximize = maximize;
  parse_options(rule_, options, flags_);
  const std::size_t n = py::len(params);
  if (n == 0) throw py::value_error("params: an empty parameter list");
  dtype_ = array_dtype(params[0], Label{"params", nullptr, 0});
  seg_.elem_size.fill(dtype_size(dtype_));
  seg_.ptrs.resize(n);
  seg_.offsets.resize(n + 1);
  for (std::size_t i = 0; i < n; ++i) {
    const Label pl{"params", nullptr, i};
    const ArrayRef p = check_array(params[i], pl, dtype_, true);
    bind(params[i], p, pl);
    seg_.ptrs[i] = {p.data, nullptr, nullptr, nullptr, nullptr};
    seg_.offsets[i + 1] = seg_.offsets[i] + p.size;
  }
}

std::array<py::list, kMaxState> StepPlan::state_streams(py::dict state, const char* what) {
  const RuleSpec& spec = rule_spec(rule_);
  const std::size_t n = num_tensors();
  std::array<py::list, kMaxState> streams;
  const RuleInfo& info = rule_info(rule_);
  for (auto item : state) {
    const std::string key = py::str(item.first);
    int j = 0;
    while (j < info.n_scalar_state && key != spec.scalar_state[j]) ++j;
    if (j < info.n_scalar_state) {
      bind_scalar_state(j, item.second, what);
      continue;
    }
    int k = 0;
    while (k < info.n_state && key != spec.state[k].name) ++k;
    if (k == info.n_state)
      throw py::value_error(std::string(what) + ": " + spec.name + " has no state '" + key + "'");
    if (!py::isinstance<py::list>(item.second))
      throw py::type_error(std::string(what) + " '" + key + "' must be a list of arrays, one per parameter");
    streams[k] = py::reinterpret_borrow<py::list>(item.second);
    if (py::len(streams[k]) != n)
      throw py::value_error(std::string(what) + " '" + key + "' has " + std::to_string(py::len(streams[k])) +
                            " arrays for " + std::to_string(n) + " params");
    flags_.state_present[k] = true;
    state_.append(streams[k]);
  }
  return streams;
}

StepPlan::StepPlan(const std::string& rule, py::list params, py::dict state, bool maximize, py::object options,
                   py::object outputs, bool stochastic_rounding, std::uint32_t seed)
    : StepPlan(rule, params, maximize, options, BindParamsOnly{}) {
  // State streams by torch's names; unknown names are an error, absent optional ones fine.
  const RuleSpec& spec = rule_spec(rule_);
  const auto streams = state_streams(state, "state");
  // bfloat16 state (with float32 params or masters) is told by the dtype of the state arrays.
  const int n_state = rule_info(rule_).n_state;
  for (int k = 0; k < n_state; ++k) {
    if (!flags_.state_present[k] || py::len(streams[k]) == 0) continue;
    py::handle first_array = streams[k][0];
    if (py::isinstance<py::array>(first_array) &&
        py::reinterpret_borrow<py::array>(first_array).itemsize() == 2) {
      if (low_dtype(first_array, Label{"state", spec.state[k].name, 0}) != kBF16 || dtype_ != kF32)
        throw py::type_error("state: 16-bit state is bfloat16, with float32 params or master weights");
      bf16_state_ = true;
    }
    break;
  }
  stochastic_ = stochastic_rounding;
  seed_ = seed;
  for (int k = 2; k < kOutStream; ++k) seg_.elem_size[k] = bf16_state_ ? 2 : dtype_size(dtype_);
  for (std::size_t i = 0; i < num_tensors(); ++i) {
    for (int k = 0; k < n_state; ++k) {
      if (!flags_.state_present[k]) continue;
      const Label sl{"state", spec.state[k].name, i};
      const ArrayRef st = bf16_state_ ? check_low_array(streams[k][i], sl, kBF16, true, params_[i])
                                      : check_array(streams[k][i], sl, dtype_, true, params_[i]);
      bind(streams[k][i], st, sl);
      seg_.ptrs[i][2 + k] = st.data;
    }
  }
  if (!outputs.is_none()) bind_outputs(outputs);
  written_.seal();
}

void StepPlan::bind_outputs(py::handle outputs) {
  // Mixed precision: params_ are the float32 masters; outputs the 16-bit params the user holds,
  // rewritten from the updated masters; grads come in the same 16-bit format.
  if (dtype_ != kF32) throw py::type_error("params: float32 master weights are needed for mixed precision");
  if (!py::isinstance<py::list>(outputs)) throw py::type_error("outputs: a list of 16-bit arrays, one per param");
  const auto list = py::reinterpret_borrow<py::list>(outputs);
  if (py::len(list) != num_tensors())
    throw py::value_error("outputs: " + std::to_string(py::len(list)) + " arrays for " +
                          std::to_string(num_tensors()) + " params");
  low_ = low_dtype(list[0], Label{"outputs", nullptr, 0});
  for (std::size_t i = 0; i < num_tensors(); ++i) {
    const Label ol{"outputs", nullptr, i};
    const ArrayRef o = check_low_array(list[i], ol, LowDtype(low_), true, params_[i]);
    bind(list[i], o, ol);
    seg_.ptrs[i][kOutStream] = o.data;
  }
  seg_.elem_size[1] = seg_.elem_size[kOutStream] = 2;
  state_.append(list);
}

void StepPlan::load_grads(py::list grads, bool addresses) {
  const std::size_t n = seg_.ptrs.size();
  if (py::len(grads) != n)
    throw py::value_error("grads: " + std::to_string(py::len(grads)) + " arrays for " + std::to_string(n) +
                          " params");
  std::vector<void*> ptrs(n);
  grad_refs_.assign(n, ArrayRef{nullptr, 0, 0});
  sparse_.resize(n);
  bool any_sparse = false;
  for (std::size_t i = 0; i < n; ++i) {
    const Label gl{"grads", nullptr, i};
    sparse_[i].row_len = 0;
    if (is_row_sparse(grads[i])) {
      if (!takes_row_sparse_)
        throw py::value_error(gl.str() + ": row-sparse gradients cannot step 8-bit block-wise state (its "
                                         "blocks of 256 elements are coded together); use state_bits=32 or 16");
      if (low_ >= 0)
        throw py::type_error(gl.str() + ": row-sparse gradients need float32/float64 params (not 16-bit params "
                                        "stepped through float32 masters)");
      sparse_[i] = coalesce_rows(grads[i], seg_.offsets[i + 1] - seg_.offsets[i], dtype_, gl);
      grad_refs_[i] = sparse_[i].values;
      any_sparse = true;
    } else {
      grad_refs_[i] = addresses ? grad_at_address(grads[i], i, gl)
                      : low_ >= 0 ? check_low_array(grads[i], gl, LowDtype(low_), false, params_[i])
                                  : check_array(grads[i], gl, dtype_, false, params_[i]);
    }
    written_.check_disjoint(grad_refs_[i], gl);
    ptrs[i] = grad_refs_[i].data;
  }
  for (std::size_t i = 0; i < n; ++i) seg_.ptrs[i][1] = ptrs[i];
  sparse_step_ = any_sparse;
  if (any_sparse) build_sparse_segments();
}

void StepPlan::build_sparse_segments() {
  step_seg_.elem_size = seg_.elem_size;
  step_seg_.offsets.assign(1, 0);
  step_seg_.ptrs.clear();
  step_seg_.bases.clear();
  auto piece = [&](const std::array<void*, kMaxStreams>& ptrs, std::size_t base, std::size_t len) {
    step_seg_.ptrs.push_back(ptrs);
    step_seg_.bases.push_back(base);
    step_seg_.offsets.push_back(step_seg_.offsets.back() + len);
  };
  for (std::size_t t = 0; t < seg_.ptrs.size(); ++t) {
    const RowSparseGrad& sp = sparse_[t];
    const std::size_t size = seg_.offsets[t + 1] - seg_.offsets[t];
    if (sp.row_len == 0) {
      if (size) piece(seg_.ptrs[t], seg_.offsets[t], size);
      continue;
    }
    for (std::size_t j = 0; j < sp.rows.size(); ++j) {
      const std::size_t first = sp.rows[j] * sp.row_len;
      std::array<void*, kMaxStreams> ptrs{};
      for (std::size_t k = 0; k < std::size_t(kMaxStreams); ++k) {
        char* base = static_cast<char*>(seg_.ptrs[t][k]);
        ptrs[k] = base ? base + first * seg_.elem_size[k] : nullptr;
      }
      ptrs[1] = const_cast<void*>(sp.grad_rows[j]);
      piece(ptrs, seg_.offsets[t] + first, sp.row_len);
    }
  }
}

GradStats StepPlan::grad_stats() const {
  require_loaded();
  const Segments& seg = active_seg();
  const std::size_t total = seg.total();
  const std::size_t nblocks = (total + kStatBlock - 1) / kStatBlock;
  std::vector<double> partial(nblocks, 0.0), bad(nblocks, 0.0);
  const GradStatsFn stats = low_ >= 0 ? active_isa().grad_stats_low[low_] : active_isa().grad_stats[dtype_];
  parallel_ranges(total, kStatBlock, [&](std::size_t lo, std::size_t hi) {
    for (std::size_t b = lo / kStatBlock; b * kStatBlock < hi; ++b) {
      double lanes[16] = {};
      const std::size_t end = std::min((b + 1) * kStatBlock, total);
      seg.for_each_piece(b * kStatBlock, end, 1, 2, [&](void* const* s, std::size_t cnt, std::size_t) {
        stats(s[1], cnt, lanes, &bad[b]);
      });
      partial[b] = pairwise_lane_sum(lanes);
    }
  });
  GradStats out{0.0, true};
  for (std::size_t b = 0; b < nblocks; ++b) {
    out.sum_squares += partial[b];
    if (bad[b] != 0.0) out.finite = false;  // NaN != 0
  }
  return out;
}

void check_grad_pipeline(double grad_scale, py::object max_grad_norm) {
  if (!std::isfinite(grad_scale) || grad_scale <= 0)
    throw py::value_error("invalid grad_scale: " + std::to_string(grad_scale) + " (must be finite and > 0)");
  if (max_grad_norm.is_none()) return;
  const double max_norm = max_grad_norm.cast<double>();
  if (!std::isfinite(max_norm) || max_norm < 0)
    throw py::value_error("invalid max_grad_norm: " + std::to_string(max_norm) + " (must be finite and >= 0)");
}

GradMultiplier grad_multiplier(double sum_squares, double grad_scale, py::object max_grad_norm) {
  check_grad_pipeline(grad_scale, max_grad_norm);
  GradMultiplier out{std::sqrt(sum_squares) / grad_scale, 1.0 / grad_scale};
  if (!max_grad_norm.is_none()) {
    const double coef = max_grad_norm.cast<double>() / (out.norm + kClipEps);
    if (coef < 1.0) out.gmul *= coef;
  }
  return out;
}

ArrayRef StepPlan::grad_at_address(py::handle address, std::size_t i, const Label& label) const {
  if (!PyLong_Check(address.ptr())) throw py::type_error(label.str() + " must be an address (int)");
  void* data = PyLong_AsVoidPtr(address.ptr());
  if (!data && PyErr_Occurred()) throw py::error_already_set();
  const auto bits = reinterpret_cast<std::uintptr_t>(data);
  const std::size_t size = seg_.offsets[i + 1] - seg_.offsets[i];
  if (size && (!data || bits % seg_.elem_size[1]))
    throw py::value_error(label.str() + " is a null or misaligned address");
  return ArrayRef{data, size, size * seg_.elem_size[1]};
}

void StepPlan::bind(py::handle obj, const ArrayRef& ref, const Label& label) {
  written_.add(ref, label);
  bound_.add(obj, ref, label);
}

void StepPlan::check_grads_disjoint(const WrittenRanges& other) const {
  require_loaded();
  for (std::size_t i = 0; i < num_tensors(); ++i) other.check_disjoint(grad_refs_[i], Label{"grads", nullptr, i});
}

void StepPlan::load(py::list grads, py::handle hyper, std::int64_t step, bool addresses) {
  loaded_ = false;
  bound_.check();
  double h[kMaxHyper];
  parse_hyper(rule_, hyper, h);
  check_hyper(rule_, h, flags_);
  check_structure(rule_, h, flags_);
  if (step < 1) throw py::value_error("step: must be >= 1");
  load_scalar_state();
  load_grads(grads, addresses);
  std::copy(h, h + kMaxHyper, hyper_);
  step_ = step;
  loaded_ = true;
}

void StepPlan::require_loaded() const {
  if (!loaded_) throw std::logic_error("StepPlan: load() must precede grad_stats() and apply()");
}

void StepPlan::apply(double gmul) {
  require_loaded();
  loaded_ = false;
  const ScalarsBuffer scalars = make_scalars(gmul);
  const RuleKernels& kernels = active_isa().rule[rule_];
  const KernelFn kernel = bf16_state_ ? kernels.bf16_state[low_ + 1][stochastic_ ? 1 : 0]
                          : low_ >= 0 ? kernels.mixed[low_][stochastic_ ? 1 : 0]
                                      : kernels.plain[dtype_];
  if (!kernel)
    throw std::logic_error(std::string(rule_spec(rule_).name) + ": no kernel for this state format");
  const int nstreams = low_ >= 0 ? kMaxStreams : 2 + rule_info(rule_).n_state;
  const std::uint32_t key = mix32(seed_ ^ mix32(std::uint32_t(step_) * 0x9e3779b1U));
  {
    py::gil_scoped_release nogil;
    const Segments& seg = active_seg();
    parallel_ranges(seg.total(), 64 / seg.elem_size[0], [&](std::size_t lo, std::size_t hi) {
      seg.for_each_piece(lo, hi, 0, nstreams, [&](void* const* s, std::size_t cnt, std::size_t first) {
        kernel(scalars.bytes, s, cnt, first, key);
      });
    });
  }
  commit_scalar_state();
}

void StepPlan::bind_scalar_state(int j, py::handle lists, const char* what) {
  const char* name = rule_spec(rule_).scalar_state[j];
  if (!py::isinstance<py::list>(lists))
    throw py::type_error(std::string(what) + " '" + name + "' must be a list of 1-element arrays");
  const auto list = py::reinterpret_borrow<py::list>(lists);
  if (py::len(list) != 1 && py::len(list) != num_tensors())
    throw py::value_error(std::string(what) + " '" + name + "' has " + std::to_string(py::len(list)) +
                          " arrays: one for all params, or one per param (" + std::to_string(num_tensors()) + ")");
  auto& kept = scalar_state_[j];
  kept.clear();
  for (std::size_t i = 0; i < py::len(list); ++i) {
    const Label l{what, name, i};
    const Counter c = check_counter(list[i], l);
    if (c.type == CounterType::kI64) throw py::type_error(l.str() + " must be float32 or float64");
    const std::size_t bytes = c.type == CounterType::kF32 ? 4 : 8;
    bool seen = false;  // the same array may stand for several params; bind it once
    for (const Counter& other : kept) seen = seen || other.data == c.data;
    if (!seen) bind(list[i], ArrayRef{c.data, 1, bytes}, l);
    kept.push_back(c);
  }
  state_.append(list);
}

void StepPlan::load_scalar_state() {
  const RuleInfo& info = rule_info(rule_);
  ScalarState ss;
  for (int j = 0; j < info.n_scalar_state; ++j) {
    const auto& kept = scalar_state_[j];
    if (kept.empty())
      throw py::value_error(std::string("state: ") + info.spec->name + " needs its scalar state '" +
                            info.spec->scalar_state[j] + "'");
    auto read = [](const Counter& c) {
      return c.type == CounterType::kF32 ? double(*static_cast<const float*>(c.data))
                                         : *static_cast<const double*>(c.data);
    };
    ss.value[j] = read(kept[0]);
    ss.single[j] = kept[0].type == CounterType::kF32;
    for (const Counter& c : kept)
      if (!(read(c) == ss.value[j]) || (c.type == CounterType::kF32) != ss.single[j])
        throw py::value_error(std::string("state '") + info.spec->scalar_state[j] +
                              "' differs between the params of one plan; they are stepped together");
  }
  scalar_state_now_ = ss;
}

ScalarsBuffer StepPlan::make_scalars(double gmul) {
  ScalarsBuffer out;
  next_scalar_state_ = scalar_state_now_;
  active_isa().rule[rule_].make_scalars(hyper_, flags_, step_, gmul, next_scalar_state_, out);
  return out;
}

void StepPlan::commit_scalar_state() {
  for (int j = 0; j < rule_info(rule_).n_scalar_state; ++j)
    for (const Counter& c : scalar_state_[j]) {
      if (c.type == CounterType::kF32) *static_cast<float*>(c.data) = float(next_scalar_state_.value[j]);
      else *static_cast<double*>(c.data) = next_scalar_state_.value[j];
    }
}

py::tuple StepPlan::step(py::list grads, py::object hyper, std::int64_t step, double grad_scale,
                         py::object max_grad_norm, bool check_finite) {
  PlanClaim claim(*this);
  check_grad_pipeline(grad_scale, max_grad_norm);
  load(grads, hyper, step);
  if (max_grad_norm.is_none() && !check_finite) {
    apply(1.0 / grad_scale);
    return py::make_tuple(py::none(), false);
  }
  GradStats st;
  {
    py::gil_scoped_release nogil;
    st = grad_stats();
  }
  const GradMultiplier gm = grad_multiplier(st.sum_squares, grad_scale, max_grad_norm);
  if (check_finite && !st.finite) loaded_ = false;
  else apply(gm.gmul);
  return py::make_tuple(gm.norm, !st.finite);
}

PlanClaim::PlanClaim(StepPlan& plan) : plan_(&plan) {
  if (plan.busy_.exchange(true, std::memory_order_acquire)) {
    plan_ = nullptr;
    throw std::runtime_error("this optimizer is being stepped by another thread; step one optimizer from "
                             "one thread at a time (separate optimizers may step concurrently)");
  }
}

PlanClaim::~PlanClaim() {
  if (!plan_) return;
  plan_->loaded_ = false;  // grads of an unfinished step are forgotten
  plan_->busy_.store(false, std::memory_order_release);
}

py::tuple step_plans(py::list plans, py::list grads, py::list hypers, py::list steps, py::list counters,
                     double grad_scale, py::object max_grad_norm, bool check_finite, bool addresses) {
  const std::size_t n = py::len(plans);
  if (py::len(grads) != n || py::len(hypers) != n || py::len(steps) != n)
    throw py::value_error("step_plans: plans, grads, hypers and steps must have one entry per plan");
  check_grad_pipeline(grad_scale, max_grad_norm);
  std::vector<StepPlan*> ps(n);
  for (std::size_t i = 0; i < n; ++i) {
    ps[i] = plans[i].cast<StepPlan*>();
    for (std::size_t j = 0; j < i; ++j)
      if (ps[j] == ps[i]) throw py::value_error("plans[" + std::to_string(i) + "]: the same plan twice in one step");
  }
  std::vector<Counter> cs;
  cs.reserve(py::len(counters));
  for (std::size_t i = 0; i < py::len(counters); ++i) cs.push_back(check_counter(counters[i], Label{"counters", nullptr, i}));
  std::vector<PlanClaim> claims;
  claims.reserve(n);
  for (StepPlan* p : ps) claims.emplace_back(*p);
  for (std::size_t i = 0; i < n; ++i) {
    const py::object step = steps[i];
    if (!PyLong_Check(step.ptr())) throw py::type_error("steps[" + std::to_string(i) + "] must be an int");
    ps[i]->load(py::reinterpret_borrow<py::list>(grads[i]), hypers[i],
                step.cast<std::int64_t>(), addresses);
  }
  if (n > 1) {  // a gradient may not alias what another plan writes, nor plans one another
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j)
        if (i != j) {
          ps[i]->check_grads_disjoint(ps[j]->written());
          if (j < i) ps[i]->written().check_disjoint_from(ps[j]->written());
        }
  }
  const bool need_stats = check_finite || !max_grad_norm.is_none();
  double gmul = 1.0 / grad_scale;
  GradStats st{0.0, true};
  py::object norm = py::none();
  if (need_stats) {
    {
      py::gil_scoped_release nogil;
      for (StepPlan* p : ps) {
        const GradStats s = p->grad_stats();
        st.sum_squares += s.sum_squares;
        st.finite = st.finite && s.finite;
      }
    }
    const GradMultiplier gm = grad_multiplier(st.sum_squares, grad_scale, max_grad_norm);
    gmul = gm.gmul;
    norm = py::float_(gm.norm);
  }
  const bool skipped = check_finite && !st.finite;
  if (!skipped) {
    for (StepPlan* p : ps) p->apply(gmul);
    for (const Counter& c : cs) advance(c);
  }
  return py::make_tuple(norm, !st.finite, skipped);
}

}  // namespace fastoptim
