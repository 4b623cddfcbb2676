// The rule registry as Python sees it: every registered rule's spec, and its validation.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings/register.hpp"
#include "core/rule_registry.hpp"
#include "core/step_plan.hpp"

namespace py = pybind11;

namespace fastoptim {
namespace {

const char* range_name(Range r) {
  switch (r) {
    case Range::kFinite: return "finite";
    case Range::kNonNegative: return ">= 0";
    case Range::kUnitOpen: return "[0, 1)";
    case Range::kUnitClosed: return "[0, 1]";
  }
  return "?";
}

py::dict spec_dict(Rule r) {
  const RuleInfo& info = rule_info(r);
  const RuleSpec& s = *info.spec;
  py::list hyper, options, state, scalar_state, formats;
  for (int i = 0; i < info.n_hyper; ++i) hyper.append(py::make_tuple(s.hyper[i].name, range_name(s.hyper[i].range)));
  for (int i = 0; i < info.n_options; ++i) options.append(s.options[i]);
  for (int i = 0; i < info.n_state; ++i)
    state.append(py::make_tuple(s.state[i].name, s.state[i].kind == StateKind::kNonNegative ? "non-negative" : "signed"));
  for (int i = 0; i < info.n_scalar_state; ++i) scalar_state.append(s.scalar_state[i]);
  if (s.formats & kFormatPlain) formats.append("plain");
  if (s.formats & kFormatMixed) formats.append("mixed");
  if (s.formats & kFormatBf16State) formats.append("bf16_state");
  if (s.formats & kFormatBlock8) formats.append("block8");
  py::dict d;
  d["name"] = s.name;
  d["hyper"] = hyper;
  d["options"] = options;
  d["state"] = state;
  d["scalar_state"] = scalar_state;
  d["formats"] = formats;
  d["block8_variants"] = info.block8_variants;
  return d;
}

void check_hyper_py(const std::string& rule, py::object hyper, bool maximize, py::object options) {
  const Rule r = rule_from_name(rule);
  double h[kMaxHyper];
  parse_hyper(r, hyper, h);
  RuleFlags f;
  f.maximize = maximize;
  parse_options(r, options, f);
  check_hyper(r, h, f);
}

}  // namespace

void register_rules(py::module_& m) {
  m.def("rule_names", [] {
    std::vector<std::string> out;
    for (int r = 0; r < kNumRules; ++r) out.push_back(rule_spec(r).name);
    return out;
  }, "Names of the registered update rules (cpp/rules/<name>.hpp).");
  m.def("rule_spec", [](const std::string& rule) { return spec_dict(rule_from_name(rule)); }, py::arg("rule"),
        "A rule's spec: hyperparameters (name, range) in kernel order, options, state buffers (name, kind), "
        "scalar state, state formats.");
  m.def("rule_hyper_names", [](const std::string& rule) {
    const RuleInfo& info = rule_info(rule_from_name(rule));
    std::vector<std::string> out;
    for (int i = 0; i < info.n_hyper; ++i) out.push_back(info.spec->hyper[i].name);
    return out;
  });
  m.def("rule_state_names", [](const std::string& rule) {
    const RuleInfo& info = rule_info(rule_from_name(rule));
    std::vector<std::string> out;
    for (int i = 0; i < info.n_state; ++i) out.push_back(info.spec->state[i].name);
    return out;
  });
  m.def(
      "rule_start_scalar_state",
      [](const std::string& rule, py::object hyper) {
        const Rule r = rule_from_name(rule);
        double h[kMaxHyper];
        parse_hyper(r, hyper, h);
        ScalarState ss;
        rule_info(r).start_scalar_state(h, ss);
        std::vector<double> out(ss.value, ss.value + rule_info(r).n_scalar_state);
        return out;
      },
      py::arg("rule"), py::arg("hyper"), "The rule's scalar state before its first step (torch's initial values).");
  m.def(
      "block8_supports",
      [](const std::string& rule, py::object options, std::vector<bool> state_present) {
        const Rule r = rule_from_name(rule);
        const RuleInfo& info = rule_info(r);
        if (!info.block8_supports) return false;
        if (state_present.size() != std::size_t(info.n_state))
          throw py::value_error("state_present: one flag per state buffer of the rule");
        RuleFlags f;
        parse_options(r, options, f);
        for (int k = 0; k < info.n_state; ++k) f.state_present[k] = state_present[std::size_t(k)];
        return info.block8_supports(f);
      },
      py::arg("rule"), py::arg("options"), py::arg("state_present"),
      "Whether the rule's 8-bit kernel implements this variant (options, which buffers are present).");
  m.def("check_hyper", &check_hyper_py, py::arg("rule"), py::arg("hyper"), py::arg("maximize") = false,
        py::arg("options") = py::none(), "Raise ValueError naming the first invalid hyperparameter.");
}

}  // namespace fastoptim
