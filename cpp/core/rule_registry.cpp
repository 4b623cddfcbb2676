#include "core/rule_registry.hpp"

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include "core/rule_kit.hpp"

namespace fastoptim {
namespace registry {
namespace {
// The rule headers as the kernels see them; only their data and checks are used here.
#include "formats/element_math.hpp"
#include "core/hash32.hpp"
#include "formats/blockwise8.hpp"
#include "rule_headers.hpp"  // generated: every cpp/rules/<name>.hpp

template <class R>
bool block8_supports_of(const RuleFlags& f) {
  if constexpr ((R::spec.formats & kFormatBlock8) != 0) return R::block8_supports(f);
  else return false;
}
template <class R>
constexpr const char* block8_variants_of() {
  if constexpr ((R::spec.formats & kFormatBlock8) != 0) return R::block8_variants;
  else return "";
}

// Rules with scalar state say how it starts (static void start(const double* h, ScalarState&)).
template <class R>
void start_of(const double* h, ScalarState& out) {
  if constexpr (count_scalar_state(R::spec) > 0) R::start(h, out);
  else (void)h, (void)out;
}

template <class R>
RuleInfo info_of() {
  return RuleInfo{&R::spec,
                  count_hyper(R::spec),
                  count_options(R::spec),
                  count_state(R::spec),
                  count_scalar_state(R::spec),
                  R::check,
                  R::structure,
                  (R::spec.formats & kFormatBlock8) != 0 ? block8_supports_of<R> : nullptr,
                  block8_variants_of<R>(),
                  R::examples,
                  int(sizeof(R::examples) / sizeof(R::examples[0])),
                  start_of<R>};
}

#define FASTOPTIM_RULE_INFO(name) info_of<name>(),
const RuleInfo kInfo[kNumRules] = {FASTOPTIM_RULES(FASTOPTIM_RULE_INFO)};
#undef FASTOPTIM_RULE_INFO
}  // namespace
}  // namespace registry

[[noreturn]] void invalid_hyper(const char* name, double v, const char* want) {
  std::ostringstream os;
  os << "invalid " << name << ": " << v << " (" << want << ")";
  throw std::invalid_argument(os.str());
}

[[noreturn]] void invalid_setting(const char* message) { throw std::invalid_argument(message); }

void require_state(const RuleSpec& spec, const RuleFlags& f, int k, bool want, const char* why) {
  if (f.state_present[k] == want) return;
  throw std::invalid_argument(std::string("state '") + spec.state[k].name + "' " +
                              (want ? "is required" : "must not be given") + " " + why);
}

const RuleInfo& rule_info(Rule r) {
  if (r < 0 || r >= kNumRules) throw std::logic_error("rule index out of range");
  return registry::kInfo[r];
}

Rule rule_from_name(const std::string& name) {
  for (int r = 0; r < kNumRules; ++r)
    if (name == registry::kInfo[r].spec->name) return r;
  throw std::invalid_argument("rule: unknown update rule '" + name + "'");
}

void check_hyper(Rule r, const double* h, const RuleFlags& f) {
  const RuleInfo& info = rule_info(r);
  for (int i = 0; i < info.n_hyper; ++i) {
    const HyperSpec& hs = info.spec->hyper[i];
    const double v = h[i];
    if (!std::isfinite(v)) invalid_hyper(hs.name, v, "must be finite");
    switch (hs.range) {
      case Range::kFinite: break;
      case Range::kNonNegative:
        if (v < 0) invalid_hyper(hs.name, v, "must be >= 0");
        break;
      case Range::kUnitOpen:
        if (v < 0 || v >= 1) invalid_hyper(hs.name, v, "must be in [0, 1)");
        break;
      case Range::kUnitClosed:
        if (v < 0 || v > 1) invalid_hyper(hs.name, v, "must be in [0, 1]");
        break;
    }
  }
  info.check(h, f);
}

void check_structure(Rule r, const double* h, const RuleFlags& f) { rule_info(r).structure(h, f); }

}  // namespace fastoptim
