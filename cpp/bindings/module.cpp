// pybind11 module fastoptim._core: thin bindings (validation + call). Validation lives in
// core/buffers.cpp and core/rule_registry.cpp, kernels in cpp/rules/ (compiled per ISA by
// core/isa_kernels.cpp), dispatch in core/dispatch.cpp, threads in core/parallel.cpp,
// multi-plan steps in core/step_plan.cpp.
#include <pybind11/pybind11.h>

#include "bindings/register.hpp"
#include "core/dispatch.hpp"

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastoptim's C++ core: update-rule kernels, ISA dispatch and threads.";
  fastoptim::init_isa_from_env();
  fastoptim::register_rules(m);
  fastoptim::register_plans(m);
  fastoptim::register_formats(m);
  fastoptim::register_runtime(m);
  fastoptim::register_ops(m);
  fastoptim::register_muon(m);
  fastoptim::register_adafactor(m);
  fastoptim::register_lamb(m);
}
