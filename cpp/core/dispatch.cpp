#include "dispatch.hpp"

#include <atomic>
#include <cstdlib>
#include <stdexcept>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#endif

namespace fastoptim {
namespace {

struct Candidate {
  const char* name;
  const IsaTable& (*table)();
  bool (*supported)();
};

bool always() { return true; }

#if defined(__x86_64__) || defined(_M_X64)
// __builtin_cpu_supports consults cpuid and, for AVX and AVX-512 state, xgetbv: a feature
// the OS does not save on context switch is reported as unsupported.
// F16C from cpuid directly (leaf 1, ECX bit 29): older Clang (14) does not know the "f16c"
// name for __builtin_cpu_supports; its YMM state is the AVX state checked with avx2.
bool has_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & (1u << 29));
}
bool has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c();
}
bool has_avx512() {
  __builtin_cpu_init();
  return has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
}
// AVX512_BF16: cpuid leaf 7, sub-leaf 1, EAX bit 5 (its register state is AVX-512's).
bool has_avx512bf16() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return has_avx512() && __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) && (eax & (1u << 5));
}
const Candidate kCandidates[] = {
    {"baseline", baseline::table, always},
    {"avx2", avx2::table, has_avx2},
    {"avx512", avx512::table, has_avx512},
    {"avx512bf16", avx512::table_bf16, has_avx512bf16},
};
#else
const Candidate kCandidates[] = {{"baseline", baseline::table, always}};
#endif

std::atomic<const IsaTable*> g_active{nullptr};

const IsaTable* best_supported() {
  const IsaTable* best = nullptr;
  for (const auto& c : kCandidates)
    if (c.supported()) best = &c.table();
  return best;
}

}  // namespace

const IsaTable& active_isa() {
  const IsaTable* t = g_active.load(std::memory_order_acquire);
  if (!t) {
    t = best_supported();
    g_active.store(t, std::memory_order_release);
  }
  return *t;
}

std::vector<std::string> compiled_isas() {
  std::vector<std::string> out;
  for (const auto& c : kCandidates) out.emplace_back(c.name);
  return out;
}

std::vector<std::string> supported_isas() {
  std::vector<std::string> out;
  for (const auto& c : kCandidates)
    if (c.supported()) out.emplace_back(c.name);
  return out;
}

void use_isa(const std::string& name) {
  for (const auto& c : kCandidates) {
    if (name != c.name) continue;
    if (!c.supported())
      throw std::invalid_argument("FASTOPTIM_ISA: '" + name +
                                  "' is compiled in but this CPU/OS does not support it");
    g_active.store(&c.table(), std::memory_order_release);
    return;
  }
  std::string known;
  for (const auto& c : kCandidates) known += std::string(known.empty() ? "" : ", ") + c.name;
  throw std::invalid_argument("FASTOPTIM_ISA: unknown instruction set '" + name +
                              "' (this build has: " + known + ")");
}

void init_isa_from_env() {
  const char* env = std::getenv("FASTOPTIM_ISA");
  if (env && *env) use_isa(env);
  else g_active.store(best_supported(), std::memory_order_release);
}

}  // namespace fastoptim
