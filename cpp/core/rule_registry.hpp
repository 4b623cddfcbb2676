// The registered rules (cpp/rules/*.hpp) by index and by name: their specs and validation.
// This is the one place hyperparameters and state structure are validated; Python calls
// check_hyper through the bindings at construction, and every step checks again before any write.
#pragma once
#include <cstdint>
#include <string>

#include "core/isa_table.hpp"

namespace fastoptim {

using Rule = int;  // index into the registry, 0 .. kNumRules - 1

// What the registry knows of a rule besides its kernels.
struct RuleInfo {
  const RuleSpec* spec;
  int n_hyper, n_options, n_state, n_scalar_state;
  CheckFn check;      // relations between values (after the ranges)
  CheckFn structure;  // which state buffers must or must not be present
  bool (*block8_supports)(const RuleFlags& f);  // null: no 8-bit variant
  const char* block8_variants;                  // what the 8-bit variant covers, for messages
  const RuleExample* examples;
  int n_examples;
  // The scalar state's values before the first step (torch's initialisation), from the hyperparameters.
  void (*start_scalar_state)(const double* h, ScalarState& out);
};

const RuleInfo& rule_info(Rule r);
inline const RuleSpec& rule_spec(Rule r) { return *rule_info(r).spec; }
Rule rule_from_name(const std::string& name);  // throws std::invalid_argument

// Ranges of every hyperparameter, then the rule's own check. Throws std::invalid_argument
// naming the offending hyperparameter.
void check_hyper(Rule r, const double* h, const RuleFlags& f);
// Checks that the given state streams make a valid structure for the rule and flags
// (e.g. SGD's momentum buffer present iff momentum != 0). Throws std::invalid_argument.
void check_structure(Rule r, const double* h, const RuleFlags& f);

}  // namespace fastoptim
