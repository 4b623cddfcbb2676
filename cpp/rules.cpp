#include "rules.hpp"

#include <cmath>
#include <sstream>
#include <stdexcept>

namespace fastoptim {
namespace {

const RuleSpec kSpecs[kNumRules] = {
    {"sgd", 4, {"lr", "momentum", "dampening", "weight_decay"}, 1, {"momentum_buffer"}},
    {"adagrad", 4, {"lr", "lr_decay", "weight_decay", "eps"}, 1, {"sum"}},
    {"rmsprop", 5, {"lr", "alpha", "eps", "weight_decay", "momentum"}, 3,
     {"square_avg", "grad_avg", "momentum_buffer"}},
    {"adam", 5, {"lr", "betas[0]", "betas[1]", "eps", "weight_decay"}, 3,
     {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}},
};

[[noreturn]] void bad(const char* name, double v, const char* want) {
  std::ostringstream os;
  os << "invalid " << name << ": " << v << " (" << want << ")";
  throw std::invalid_argument(os.str());
}

void finite(const char* name, double v) {
  if (!std::isfinite(v)) bad(name, v, "must be finite");
}
void non_negative(const char* name, double v) {
  finite(name, v);
  if (v < 0) bad(name, v, "must be >= 0");
}
void unit_interval(const char* name, double v) {  // [0, 1)
  finite(name, v);
  if (v < 0 || v >= 1) bad(name, v, "must be in [0, 1)");
}

// Index of the hyperparameter named `name` in rule r.
int hyper_index(Rule r, const char* name) {
  const RuleSpec& s = kSpecs[r];
  for (int i = 0; i < s.n_hyper; ++i)
    if (std::string(s.hyper[i]) == name) return i;
  throw std::logic_error("no hyperparameter named " + std::string(name));
}

const char* momentum_why(double momentum) { return momentum != 0 ? "when momentum != 0" : "when momentum == 0"; }

void require_state(Rule r, const RuleFlags& f, int k, bool want, const char* why) {
  if (f.state_present[k] == want) return;
  throw std::invalid_argument(std::string("state '") + kSpecs[r].state[k] + "' " +
                              (want ? "is required" : "must not be given") + " " + why);
}

}  // namespace

const RuleSpec& rule_spec(Rule r) { return kSpecs[r]; }

Rule rule_from_name(const std::string& name) {
  for (int r = 0; r < kNumRules; ++r)
    if (name == kSpecs[r].name) return Rule(r);
  throw std::invalid_argument("rule: unknown update rule '" + name + "'");
}

void check_hyper(Rule r, const double* h, const RuleFlags& f) {
  const RuleSpec& s = kSpecs[r];
  for (int i = 0; i < s.n_hyper; ++i) finite(s.hyper[i], h[i]);
  non_negative("lr", h[0]);
  switch (r) {
    case kSgd:
      non_negative("momentum", h[1]);
      non_negative("weight_decay", h[3]);
      if (f.nesterov && (h[1] <= 0 || h[2] != 0))
        throw std::invalid_argument(
            "invalid nesterov: Nesterov momentum requires momentum > 0 and dampening == 0");
      break;
    case kAdagrad:
      non_negative("lr_decay", h[1]);
      non_negative("weight_decay", h[2]);
      non_negative("eps", h[3]);
      break;
    case kRmsprop:
      non_negative("alpha", h[1]);
      non_negative("eps", h[2]);
      non_negative("weight_decay", h[3]);
      non_negative("momentum", h[4]);
      break;
    case kAdam:
      unit_interval("betas[0]", h[1]);
      unit_interval("betas[1]", h[2]);
      non_negative("eps", h[3]);
      non_negative("weight_decay", h[4]);
      break;
    default:
      break;
  }
}

void check_structure(Rule r, const double* h, const RuleFlags& f) {
  switch (r) {
    case kSgd:
      require_state(r, f, 0, h[hyper_index(r, "momentum")] != 0, momentum_why(h[hyper_index(r, "momentum")]));
      break;
    case kAdagrad:
      require_state(r, f, 0, true, "for Adagrad");
      break;
    case kRmsprop:
      require_state(r, f, 0, true, "for RMSprop");
      require_state(r, f, 2, h[hyper_index(r, "momentum")] != 0, momentum_why(h[hyper_index(r, "momentum")]));
      break;
    case kAdam:
      require_state(r, f, 0, true, "for Adam");
      require_state(r, f, 1, true, "for Adam");
      break;
    default:
      break;
  }
}

AnyScalars make_scalars(Rule r, const double* h, const RuleFlags& f, std::int64_t step, double gmul) {
  if (step < 1) throw std::invalid_argument("step: must be >= 1");
  if (f.maximize) gmul = -gmul;
  AnyScalars out;
  switch (r) {
    case kSgd:
      out.sgd = SgdScalars{gmul, h[0], h[1], h[2], h[3], f.state_present[0], f.nesterov, step == 1};
      break;
    case kAdagrad:
      out.adagrad = AdagradScalars{gmul, h[0] / (1.0 + double(step - 1) * h[1]), h[2], h[3]};
      break;
    case kRmsprop:
      out.rmsprop = RmspropScalars{gmul, h[0], h[1], h[2], h[3], h[4], f.state_present[1],
                                   f.state_present[2]};
      break;
    case kAdam: {
      // As torch.optim computes them: in double, once per step.
      const double t = double(step);
      const double bc1 = 1.0 - std::pow(h[1], t);
      const double bc2 = 1.0 - std::pow(h[2], t);
      out.adam = AdamScalars{gmul, h[0], h[1], h[2], h[3], h[4], h[0] / bc1, std::pow(bc2, 0.5),
                             f.decoupled, f.state_present[2]};
      break;
    }
    default:
      throw std::logic_error("unknown rule");
  }
  return out;
}

}  // namespace fastoptim
