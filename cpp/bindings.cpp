// pybind11 module fastoptim._core: thin bindings. Validation lives in buffers.cpp and
// rules.cpp, kernels in isa_kernels.cpp, dispatch in dispatch.cpp, threads in parallel.cpp,
// multi-plan steps in step_plan.cpp.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "build_flags.hpp"
#include "block_plan.hpp"
#include "buffers.hpp"
#include "dispatch.hpp"
#include "parallel.hpp"
#include "rules.hpp"
#include "step_plan.hpp"

namespace py = pybind11;
using namespace fastoptim;

namespace {

void check_hyper_py(const std::string& rule, py::sequence hyper, bool maximize, bool nesterov, bool decoupled) {
  const Rule r = rule_from_name(rule);
  double h[kMaxHyper];
  parse_hyper(r, hyper, h);
  RuleFlags f;
  f.maximize = maximize;
  f.nesterov = nesterov;
  f.decoupled = decoupled;
  check_hyper(r, h, f);
}

// a_k = 0.5·a_k + g over all rw arrays: the streaming roof of a rule with len(rw) state-like
// streams and one gradient.
void stream_probe_py(py::list rw, py::handle g) {
  const std::size_t n_rw = py::len(rw);
  if (n_rw < 1 || n_rw > 4) throw py::value_error("rw: between 1 and 4 arrays");
  const ArrayRef gr = check_array(g, Label{"g", nullptr, 0}, kF32, false);
  float* a[4] = {};
  WrittenRanges written;
  for (std::size_t k = 0; k < n_rw; ++k) {
    const Label l{"rw", nullptr, k};
    const ArrayRef r = check_array(rw[k], l, kF32, true, g);
    written.add(r, l);
    a[k] = static_cast<float*>(r.data);
  }
  written.seal();
  written.check_disjoint(gr, Label{"g", nullptr, 0});
  const ProbeFn probe = active_isa().probe;
  const float* gp = static_cast<const float*>(gr.data);
  py::gil_scoped_release nogil;
  parallel_ranges(gr.size, 16, [&](std::size_t lo, std::size_t hi) {
    float* shifted[4] = {};
    for (std::size_t k = 0; k < n_rw; ++k) shifted[k] = a[k] + lo;
    probe(shifted, int(n_rw), gp + lo, hi - lo);
  });
}

py::dict build_info() {
  py::dict d;
#if defined(__clang__)
  d["compiler"] = "clang " __clang_version__;
#elif defined(__GNUC__)
  d["compiler"] = "gcc " __VERSION__;
#else
  d["compiler"] = "unknown";
#endif
  d["cxx_flags"] = FASTOPTIM_CXX_FLAGS;
  d["isa_flags"] = FASTOPTIM_ISA_FLAGS;
  d["threads"] = "fastoptim's own pool (std::thread; fork-safe, no OpenMP runtime)";
  return d;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastoptim's C++ core: update-rule kernels, ISA dispatch and threads.";
  init_isa_from_env();

  py::class_<StepPlan>(m, "StepPlan",
                       "One parameter group's params and state bound to an update rule; "
                       "validated once, stepped many times.")
      .def(py::init<const std::string&, py::list, py::dict, bool, bool, bool, py::object, bool, std::uint32_t>(),
           py::arg("rule"), py::arg("params"), py::arg("state"), py::arg("maximize") = false,
           py::arg("nesterov") = false, py::arg("decoupled") = false, py::arg("outputs") = py::none(),
           py::arg("stochastic_rounding") = false, py::arg("seed") = 0)
      .def("step", &StepPlan::step, py::arg("grads"), py::arg("hyper"), py::arg("step"),
           py::arg("grad_scale") = 1.0, py::arg("max_grad_norm") = py::none(), py::arg("check_finite") = false,
           "Update params and state in place. Returns (grad_norm or None, found_inf).")
      .def_property_readonly("numel", &StepPlan::numel)
      .def_property_readonly("num_tensors", &StepPlan::num_tensors)
      .def_property_readonly("dtype", &StepPlan::dtype)
      .def_property_readonly("mixed_dtype", &StepPlan::mixed_dtype)
      .def_property_readonly("rule", &StepPlan::rule);

  py::class_<BlockPlan, StepPlan>(m, "BlockPlan",
                                  "A StepPlan with 8-bit block-wise state (codes + per-256-element scales).")
      .def(py::init<const std::string&, py::list, py::dict, py::dict, bool, bool, bool, std::uint32_t>(),
           py::arg("rule"), py::arg("params"), py::arg("codes"), py::arg("scales"), py::arg("maximize") = false,
           py::arg("nesterov") = false, py::arg("decoupled") = false, py::arg("seed") = 0)
      .def_property_readonly("num_blocks", &BlockPlan::num_blocks);
  m.attr("BLOCK8_SIZE") = kBlock8Size;

  m.def("check_hyper", &check_hyper_py, py::arg("rule"), py::arg("hyper"), py::arg("maximize") = false,
        py::arg("nesterov") = false, py::arg("decoupled") = false,
        "Raise ValueError naming the first invalid hyperparameter.");
  m.def(
      "grad_multiplier",
      [](double sum_squares, double grad_scale, py::object max_grad_norm) {
        const GradMultiplier gm = grad_multiplier(sum_squares, grad_scale, max_grad_norm);
        return py::make_tuple(gm.norm, gm.gmul);
      },
      py::arg("sum_squares"), py::arg("grad_scale") = 1.0, py::arg("max_grad_norm") = py::none(),
      "(norm of the unscaled gradients, multiplier for the stored gradients).");
  m.def("step_plans", &step_plans, py::arg("plans"), py::arg("grads"), py::arg("hypers"), py::arg("steps"),
        py::arg("counters"), py::arg("grad_scale") = 1.0, py::arg("max_grad_norm") = py::none(),
        py::arg("check_finite") = false, py::arg("addresses") = false,
        "One step over several plans, all or nothing: validate every plan's grads (arrays, or with "
        "addresses=True integer addresses of C-contiguous buffers shaped and typed like the params, "
        "which the caller guarantees) and hyperparameters, one global gradient pass if clipping or "
        "checking, apply every plan, then add 1 to each counter (1-element int64/float32/float64 "
        "arrays). Returns (grad_norm or None, found_inf, skipped).");
  m.def("rule_hyper_names", [](const std::string& rule) {
    const RuleSpec& s = rule_spec(rule_from_name(rule));
    return std::vector<std::string>(s.hyper, s.hyper + s.n_hyper);
  });
  m.def("rule_state_names", [](const std::string& rule) {
    const RuleSpec& s = rule_spec(rule_from_name(rule));
    return std::vector<std::string>(s.state, s.state + s.n_state);
  });

  m.def("get_num_threads", &num_threads);
  m.def("set_num_threads", [](int n) {
    try {
      set_num_threads(n);
    } catch (const std::invalid_argument& e) {
      throw py::value_error(e.what());
    }
  });
  m.attr("MAX_THREADS") = kMaxThreads;
  m.def("fork_handler_installed", &fork_handler_installed);
  m.def("get_min_elements_per_thread", &min_elements_per_thread);
  m.def("set_min_elements_per_thread", &set_min_elements_per_thread);
  m.def("threads_for", &threads_for, py::arg("numel"));

  m.def("active_isa", [] { return std::string(active_isa().name); });
  m.def("supported_isas", &supported_isas);
  m.def("compiled_isas", &compiled_isas);
  m.def("use_isa", &use_isa, py::arg("name"));

  m.def(
      "narrow",
      [](py::handle x, py::handle out) {
        const ArrayRef in = check_array(x, Label{"x", nullptr, 0}, kF32, false);
        const LowDtype fmt = low_dtype(out, Label{"out", nullptr, 0});
        const ArrayRef o = check_low_array(out, Label{"out", nullptr, 0}, fmt, true, x);
        active_isa().narrow[fmt](static_cast<const float*>(in.data), static_cast<std::uint16_t*>(o.data), in.size);
      },
      py::arg("x"), py::arg("out"), "out[...] = x rounded to out's 16-bit format (nearest, ties to even).");
  m.def(
      "widen",
      [](py::handle x, py::handle out) {
        const LowDtype fmt = low_dtype(x, Label{"x", nullptr, 0});
        const ArrayRef in = check_low_array(x, Label{"x", nullptr, 0}, fmt, false, py::handle());
        const ArrayRef o = check_array(out, Label{"out", nullptr, 0}, kF32, true, x);
        active_isa().widen[fmt](static_cast<const std::uint16_t*>(in.data), static_cast<float*>(o.data), in.size);
      },
      py::arg("x"), py::arg("out"), "out[...] = x (float16/bfloat16) as float32, exactly.");
  m.def("stream_probe", &stream_probe_py, py::arg("rw"), py::arg("g"));
  m.def("build_info", &build_info);
}
