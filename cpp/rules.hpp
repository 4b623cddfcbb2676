// What each update rule is made of: its hyperparameters (in the order the bindings take
// them), its state streams, their validation, and the per-step scalars computed from them.
// This is the one place hyperparameters are validated; Python calls check_hyper through
// the bindings at construction, and every step checks again before any write.
#pragma once
#include <cstdint>
#include <string>

#include "isa_table.hpp"
#include "step_scalars.hpp"

namespace fastoptim {

constexpr int kMaxHyper = 5;
constexpr int kMaxState = 3;  // streams 2, 3, 4; stream 5 is the mixed-precision output
static_assert(2 + kMaxState == kOutStream, "stream layout");

struct RuleSpec {
  const char* name;
  int n_hyper;
  const char* hyper[kMaxHyper];  // Python-side names, used in error messages
  int n_state;
  const char* state[kMaxState];  // torch's state names, stream order after (param, grad)
};

const RuleSpec& rule_spec(Rule r);
Rule rule_from_name(const std::string& name);  // throws std::invalid_argument

// Flags fixed for the lifetime of a StepPlan. The optional state streams present
// (momentum buffer, centered grad average, AMSGrad maximum) are part of the structure too.
struct RuleFlags {
  bool maximize = false;
  bool nesterov = false;   // SGD
  bool decoupled = false;  // Adam: AdamW-style weight decay
  bool state_present[kMaxState] = {false, false, false};
};

// Throws std::invalid_argument naming the offending hyperparameter.
void check_hyper(Rule r, const double* h, const RuleFlags& f);

// Checks that the given state streams make a valid structure for the rule and flags
// (e.g. SGD's momentum buffer present iff momentum != 0). Throws std::invalid_argument.
void check_structure(Rule r, const double* h, const RuleFlags& f);

union AnyScalars {
  SgdScalars sgd;
  AdagradScalars adagrad;
  RmspropScalars rmsprop;
  AdamScalars adam;
};

// step: 1-based count of steps this state has taken, including the current one.
AnyScalars make_scalars(Rule r, const double* h, const RuleFlags& f, std::int64_t step, double gmul);

}  // namespace fastoptim
