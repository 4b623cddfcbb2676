// Plans and steps: StepPlan, BlockPlan, step_plans, and the clip/unscale multiplier.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/register.hpp"
#include "core/block_plan.hpp"
#include "core/step_plan.hpp"

namespace py = pybind11;

namespace fastoptim {

void register_plans(py::module_& m) {
  py::class_<StepPlan>(m, "StepPlan",
                       "One parameter group's params and state bound to an update rule; "
                       "validated once, stepped many times.")
      .def(py::init<const std::string&, py::list, py::dict, bool, py::object, py::object, bool, std::uint32_t>(),
           py::arg("rule"), py::arg("params"), py::arg("state"), py::arg("maximize") = false,
           py::arg("options") = py::none(), py::arg("outputs") = py::none(), py::arg("stochastic_rounding") = false,
           py::arg("seed") = 0)
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
      .def(py::init<const std::string&, py::list, py::dict, py::dict, bool, py::object, std::uint32_t>(),
           py::arg("rule"), py::arg("params"), py::arg("codes"), py::arg("scales"), py::arg("maximize") = false,
           py::arg("options") = py::none(), py::arg("seed") = 0)
      .def_property_readonly("num_blocks", &BlockPlan::num_blocks);

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
}

}  // namespace fastoptim
