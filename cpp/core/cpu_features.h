#pragma once
#include <string>

namespace fcn {

enum class Isa { kRef = 0, kAvx2 = 1, kAvx512 = 2 };

const char* isa_name(Isa isa);
bool parse_isa(const std::string& name, Isa* out);

struct CpuFeatures {
  bool avx2_fma = false;  // AVX2 + FMA + OS-enabled YMM state
  bool avx512 = false;    // AVX-512 F/BW/DQ/VL + OS-enabled ZMM/opmask state
};

// CPUID and XGETBV, read once.
const CpuFeatures& cpu_features();

// The best ISA this CPU and OS support.
Isa best_isa();

// The ISA in use: chosen once at first call from FCNKIT_ISA (ref | avx2 | avx512) or best_isa().
// A forced ISA the CPU cannot run falls back to the best one; active_isa_note() says why.
Isa active_isa();
const std::string& active_isa_note();

bool isa_supported(Isa isa);

}  // namespace fcn
