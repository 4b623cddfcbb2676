// The parts of fastoptim._core, one function per concept; module.cpp wires them together.
#pragma once
#include <pybind11/pybind11.h>

namespace fastoptim {
void register_rules(pybind11::module_& m);    // the rule registry: names, specs, validation
void register_plans(pybind11::module_& m);    // StepPlan, BlockPlan, step_plans, the grad pipeline
void register_formats(pybind11::module_& m);  // 16-bit conversions, the 8-bit block size
void register_runtime(pybind11::module_& m);  // threads, ISA dispatch, the streaming probe, build info
void register_ops(pybind11::module_& m);      // operations on weights beside the rules (EMA)
void register_muon(pybind11::module_& m);     // Muon's element-wise passes around Newton–Schulz
void register_adafactor(pybind11::module_& m);  // Adafactor: factored second moment (matrix/)
void register_lamb(pybind11::module_& m);       // LAMB: Adam moments, per-tensor trust ratio (matrix/)
}  // namespace fastoptim
