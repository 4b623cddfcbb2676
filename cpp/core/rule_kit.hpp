// What a rule header (cpp/rules/<rule>.hpp) may call to validate: out-of-line helpers compiled
// once (core/rule_registry.cpp), never in a per-ISA copy, so that no library code built for a
// wide ISA can be linked into a narrow one.
#pragma once
#include "core/rule_types.hpp"

namespace fastoptim {

// Throws std::invalid_argument("invalid <name>: <value> (<want>)").
[[noreturn]] void invalid_hyper(const char* name, double value, const char* want);
// Throws std::invalid_argument(message).
[[noreturn]] void invalid_setting(const char* message);
// State buffer k of the rule must be present (want) or absent (!want), "<why>" saying when.
void require_state(const RuleSpec& spec, const RuleFlags& f, int k, bool want, const char* why);

}  // namespace fastoptim
