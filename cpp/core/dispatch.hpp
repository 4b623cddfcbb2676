// Run-time choice of the kernel table: the widest ISA the CPU and OS support, or the one
// FASTOPTIM_ISA names (which must be supported). Chosen once at import; use_isa() switches.
#pragma once
#include <string>
#include <vector>

#include "isa_table.hpp"

namespace fastoptim {

const IsaTable& active_isa();
// ISAs this build contains that this CPU (and OS) can run, narrowest first.
std::vector<std::string> supported_isas();
// ISAs compiled into this build, narrowest first.
std::vector<std::string> compiled_isas();
// Switch to `name`; throws std::invalid_argument if unknown or unsupported here.
void use_isa(const std::string& name);
// Called once at import: honours FASTOPTIM_ISA.
void init_isa_from_env();

}  // namespace fastoptim
