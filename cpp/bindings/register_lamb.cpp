// LAMB (matrix/lamb_step.*): validation of every buffer and hyperparameter, then one step over
// all tensors with the GIL released; and the streaming probe of LAMB's two byte shapes.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cmath>
#include <string>
#include <vector>

#include "bindings/register.hpp"
#include "core/buffers.hpp"
#include "core/dispatch.hpp"
#include "core/parallel.hpp"
#include "matrix/lamb_step.hpp"

namespace py = pybind11;

namespace fastoptim {
namespace {

constexpr const char* kHyperNames[] = {"lr", "beta1", "beta2", "eps", "weight_decay", "clamp"};
constexpr const char* kFlagNames[] = {"weight_decouple", "fixed_decay", "grad_averaging", "adam",
                                      "adam_debias",     "always_adapt", "maximize"};

std::string where(std::size_t gi, const char* name) {
  return "hypers[" + std::to_string(gi) + "]: invalid " + name + ": ";
}

LambHyper parse_hyper(py::handle h, std::size_t gi) {
  if (!py::isinstance<py::tuple>(h) || py::len(h) != 14)
    throw py::value_error("hypers[" + std::to_string(gi) +
                          "]: expected (lr, beta1, beta2, eps, weight_decay, clamp, weight_decouple, fixed_decay, "
                          "grad_averaging, adam, adam_debias, always_adapt, maximize, counter)");
  double v[6];
  for (int k = 0; k < 6; ++k) {
    v[k] = py::cast<double>(h[py::int_(k)]);
    if (std::isnan(v[k]) || (k != 5 && !std::isfinite(v[k])))
      throw py::value_error(where(gi, kHyperNames[k]) + std::to_string(v[k]) + " (must be finite)");
  }
  bool f[7];
  for (int k = 0; k < 7; ++k) {
    py::handle x = h[py::int_(6 + k)];
    if (!py::isinstance<py::bool_>(x)) throw py::type_error(where(gi, kFlagNames[k]) + "must be a bool");
    f[k] = py::cast<bool>(x);
  }
  LambHyper x{v[0], v[1], v[2], v[3], v[4], v[5], f[0], f[1], f[2], f[3], f[4], f[5], f[6], Counter{}};
  if (!(x.lr >= 0)) throw py::value_error(where(gi, "lr") + std::to_string(x.lr) + " (must be >= 0)");
  if (!(x.beta1 >= 0 && x.beta1 < 1))
    throw py::value_error(where(gi, "beta1") + std::to_string(x.beta1) + " (must be in [0, 1))");
  if (!(x.beta2 >= 0 && x.beta2 < 1))
    throw py::value_error(where(gi, "beta2") + std::to_string(x.beta2) + " (must be in [0, 1))");
  if (!(x.eps >= 0)) throw py::value_error(where(gi, "eps") + std::to_string(x.eps) + " (must be >= 0)");
  if (!(x.weight_decay >= 0))
    throw py::value_error(where(gi, "weight_decay") + std::to_string(x.weight_decay) + " (must be >= 0)");
  if (!(x.clamp >= 0)) throw py::value_error(where(gi, "clamp") + std::to_string(x.clamp) + " (must be >= 0)");
  x.counter = check_counter(h[py::int_(13)], Label{"hypers", nullptr, gi});
  return x;
}

double lamb_step_py(py::list params, py::list grads, py::list exp_avgs, py::list exp_avg_sqs, py::list norms,
                    py::list hypers, py::list hyper_index, py::object pre_norm, py::object pass_seconds) {
  const std::size_t n = py::len(params);
  const std::pair<const char*, py::list*> lists[] = {{"grads", &grads},
                                                     {"exp_avgs", &exp_avgs},
                                                     {"exp_avg_sqs", &exp_avg_sqs},
                                                     {"norms", &norms},
                                                     {"hyper_index", &hyper_index}};
  for (const auto& [name, l] : lists)
    if (py::len(*l) != n)
      throw py::value_error(std::string(name) + ": " + std::to_string(py::len(*l)) + " entries for " +
                            std::to_string(n) + " params");
  std::vector<LambHyper> hs;
  for (std::size_t gi = 0; gi < py::len(hypers); ++gi) hs.push_back(parse_hyper(hypers[gi], gi));
  LambPreNorm pre;
  if (!pre_norm.is_none()) {
    if (!py::isinstance<py::tuple>(pre_norm) || py::len(pre_norm) != 2)
      throw py::value_error("pre_norm: expected None or (max_grad_norm, eps)");
    pre.enabled = true;
    pre.max_grad_norm = py::cast<double>(pre_norm[py::int_(0)]);
    pre.eps = py::cast<double>(pre_norm[py::int_(1)]);
    if (!(std::isfinite(pre.max_grad_norm) && pre.max_grad_norm >= 0))
      throw py::value_error("pre_norm: invalid max_grad_norm: " + std::to_string(pre.max_grad_norm) +
                            " (must be finite and >= 0)");
    if (!(std::isfinite(pre.eps) && pre.eps >= 0))
      throw py::value_error("pre_norm: invalid eps: " + std::to_string(pre.eps) + " (must be finite and >= 0)");
  }
  double* seconds = nullptr;
  if (!pass_seconds.is_none()) {
    const ArrayRef a = check_array(pass_seconds, Label{"pass_seconds", nullptr, 0}, kF64, true);
    if (a.size != 3) throw py::value_error("pass_seconds: must hold 3 values (passes 0, 1, 2)");
    seconds = static_cast<double*>(a.data);
  }
  std::vector<LambTensor> ts(n);
  WrittenRanges written;
  std::vector<ArrayRef> read(n);
  for (std::size_t i = 0; i < n; ++i) {
    const Label pl{"params", nullptr, i}, gl{"grads", nullptr, i}, ml{"exp_avgs", nullptr, i},
        vl{"exp_avg_sqs", nullptr, i}, nl{"norms", nullptr, i};
    const Dtype dtype = array_dtype(params[i], pl);
    const ArrayRef p = check_array(params[i], pl, dtype, true);
    read[i] = check_array(grads[i], gl, dtype, false, params[i]);
    const ArrayRef m = check_array(exp_avgs[i], ml, dtype, true, params[i]);
    const ArrayRef v = check_array(exp_avg_sqs[i], vl, dtype, true, params[i]);
    const ArrayRef nr = check_array(norms[i], nl, dtype, true);
    if (nr.size != 3) throw py::value_error(nl.str() + ": must hold 3 values (weight_norm, adam_norm, trust_ratio)");
    written.add(p, pl);
    written.add(m, ml);
    written.add(v, vl);
    written.add(nr, nl);
    const py::ssize_t hi = py::cast<py::ssize_t>(hyper_index[i]);
    if (hi < 0 || std::size_t(hi) >= hs.size())
      throw py::value_error("hyper_index[" + std::to_string(i) + "]: " + std::to_string(hi) +
                            " is not an index of hypers");
    ts[i] = LambTensor{dtype, p.data, read[i].data, m.data, v.data, nr.data, p.size, int(hi)};
  }
  written.seal();
  for (std::size_t i = 0; i < n; ++i) written.check_disjoint(read[i], Label{"grads", nullptr, i});
  py::gil_scoped_release nogil;
  return lamb_step(ts, hs, pre, seconds);
}

// a_k = 0.5·a_k + (r0 + r1) over the rw arrays (1 or 2): the roof of LAMB's passes
// (pass 2: 1 read-write + 2 read-only streams; pass 1: 2 + 2).
void lamb_probe_py(py::list rw, py::handle r0, py::handle r1) {
  const std::size_t n_rw = py::len(rw);
  if (n_rw < 1 || n_rw > 2) throw py::value_error("rw: 1 or 2 arrays");
  const ArrayRef a0 = check_array(r0, Label{"r0", nullptr, 0}, kF32, false);
  const ArrayRef a1 = check_array(r1, Label{"r1", nullptr, 0}, kF32, false, r0);
  float* a[2] = {};
  WrittenRanges written;
  for (std::size_t k = 0; k < n_rw; ++k) {
    const Label l{"rw", nullptr, k};
    const ArrayRef r = check_array(rw[k], l, kF32, true, r0);
    written.add(r, l);
    a[k] = static_cast<float*>(r.data);
  }
  written.seal();
  written.check_disjoint(a0, Label{"r0", nullptr, 0});
  written.check_disjoint(a1, Label{"r1", nullptr, 0});
  const LambProbeFn probe = active_isa().lamb_probe;
  const float* p0 = static_cast<const float*>(a0.data);
  const float* p1 = static_cast<const float*>(a1.data);
  py::gil_scoped_release nogil;
  parallel_ranges(a0.size, 16, [&](std::size_t lo, std::size_t hi) {
    float* shifted[2] = {};
    for (std::size_t k = 0; k < n_rw; ++k) shifted[k] = a[k] + lo;
    probe(shifted, int(n_rw), p0 + lo, p1 + lo, hi - lo);
  });
}

}  // namespace

void register_lamb(py::module_& m) {
  m.def("lamb_step", &lamb_step_py, py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"),
        py::arg("norms"), py::arg("hypers"), py::arg("hyper_index"), py::arg("pre_norm") = py::none(), py::arg("pass_seconds") = py::none(),
        "One pytorch_optimizer.Lamb step over every param, in place. norms: per param a 3-element array of its "
        "dtype that receives (weight_norm, adam_norm, trust_ratio). hypers: per group (lr, beta1, beta2, eps, "
        "weight_decay, clamp, weight_decouple, fixed_decay, grad_averaging, adam, adam_debias, always_adapt, "
        "maximize, counter), counter a 1-element int64/float32/float64 array holding the group's step count "
        "(each distinct one advanced once); hyper_index: which group each param belongs to. pre_norm: None or "
        "(max_grad_norm, eps). pass_seconds: None or a float64 array of 3 that receives each pass's wall time "
        "(benchmarks). Everything is checked before any write. Returns the pre-norm gradient scale.");
  m.def("lamb_probe", &lamb_probe_py, py::arg("rw"), py::arg("r0"), py::arg("r1"),
        "Streaming probe of LAMB's byte shapes: rw[k] = 0.5*rw[k] + (r0 + r1), float32, threaded as a step.");
}

}  // namespace fastoptim
