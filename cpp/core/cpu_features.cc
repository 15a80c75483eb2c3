#include "core/cpu_features.h"

#include <cpuid.h>

#include <cstdint>
#include <cstdlib>

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace fcn {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kRef: return "ref";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "ref";
}

bool parse_isa(const std::string& name, Isa* out) {
  if (name == "ref") *out = Isa::kRef;
  else if (name == "avx2") *out = Isa::kAvx2;
  else if (name == "avx512") *out = Isa::kAvx512;
  else return false;
  return true;
}

namespace {
// XGETBV without -mxsave: the instruction bytes, so this file stays baseline x86-64.
uint64_t xgetbv0() {
  uint32_t eax, edx;
  __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(eax), "=d"(edx) : "c"(0));
  return (uint64_t(edx) << 32) | eax;
}

CpuFeatures detect() {
  CpuFeatures f;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  bool fma = c & (1u << 12);
  bool osxsave = c & (1u << 27);
  bool avx = c & (1u << 28);
  if (!osxsave || !avx) return f;
  uint64_t xcr0 = xgetbv0();
  bool ymm_state = (xcr0 & 0x6) == 0x6;              // SSE + AVX state
  bool zmm_state = (xcr0 & 0xe6) == 0xe6;            // + opmask, ZMM_Hi256, Hi16_ZMM
  if (__get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  bool avx2 = b & (1u << 5);
  bool avx512f = b & (1u << 16), avx512dq = b & (1u << 17), avx512bw = b & (1u << 30),
       avx512vl = b & (1u << 31);
  f.avx2_fma = avx2 && fma && ymm_state;
  f.avx512 = f.avx2_fma && avx512f && avx512dq && avx512bw && avx512vl && zmm_state;
  const bool amx_tile = d & (1u << 24), amx_bf16 = d & (1u << 22);
  const bool tile_state = (xcr0 & 0x60000) == 0x60000;  // XTILECFG (17) + XTILEDATA (18)
  f.amx_bf16 = f.avx512 && amx_tile && amx_bf16 && tile_state;
  if (a >= 1) {  // leaf 7 subleaf 0 EAX: the highest subleaf
    __cpuid_count(7, 1, a, b, c, d);
    f.avx512_bf16 = f.avx512 && (a & (1u << 5));
  }
  return f;
}

struct Active {
  Isa isa;
  std::string note;
};

Active choose() {
  Active a{best_isa(), ""};
  if (const char* env = std::getenv("FCNKIT_ISA")) {
    Isa want;
    if (!parse_isa(env, &want)) {
      a.note = std::string("FCNKIT_ISA=") + env + " is not one of ref, avx2, avx512; using " + isa_name(a.isa);
    } else if (!isa_supported(want)) {
      a.note = std::string("FCNKIT_ISA=") + env + " is not supported by this CPU; using " + isa_name(a.isa);
    } else {
      a.isa = want;
      a.note = std::string("forced by FCNKIT_ISA=") + env;
    }
  }
  return a;
}

const Active& active() {
  static const Active a = choose();
  return a;
}
}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

bool isa_supported(Isa isa) {
  switch (isa) {
    case Isa::kRef: return true;
    case Isa::kAvx2: return cpu_features().avx2_fma;
    case Isa::kAvx512: return cpu_features().avx512;
  }
  return false;
}

Isa best_isa() {
  if (cpu_features().avx512) return Isa::kAvx512;
  if (cpu_features().avx2_fma) return Isa::kAvx2;
  return Isa::kRef;
}

bool bf16_supported(std::string* why) {
  std::string reason;
  if (!cpu_features().avx512_bf16)
    reason = "this CPU lacks AVX512-BF16 (vdpbf16ps)";
  else if (active_isa() != Isa::kAvx512)
    reason = std::string("the bf16 kernels need the avx512 ISA with AVX512-BF16, and the active ISA is ") +
             isa_name(active_isa()) + (active_isa_note().empty() ? "" : " (" + active_isa_note() + ")");
  if (why) *why = reason;
  return reason.empty();
}

bool amx_tiles_permitted() {
  static const bool ok = [] {
    if (!cpu_features().amx_bf16) return false;
#if defined(__linux__) && defined(SYS_arch_prctl)
    constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
    return false;
#endif
  }();
  return ok;
}

Isa active_isa() { return active().isa; }
const std::string& active_isa_note() { return active().note; }

}  // namespace fcn
