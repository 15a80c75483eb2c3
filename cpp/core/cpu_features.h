#pragma once
#include <string>

namespace fcn {

enum class Isa { kRef = 0, kAvx2 = 1, kAvx512 = 2 };

const char* isa_name(Isa isa);
bool parse_isa(const std::string& name, Isa* out);

struct CpuFeatures {
  bool avx2_fma = false;  // AVX2 + FMA + OS-enabled YMM state
  bool avx512 = false;    // AVX-512 F/BW/DQ/VL + OS-enabled ZMM/opmask state
  bool avx512_bf16 = false;  // avx512 + AVX512-BF16 (vdpbf16ps, vcvtne2ps2bf16)
  bool amx_bf16 = false;     // AMX-TILE + AMX-BF16 + OS-enabled XTILECFG/XTILEDATA state (XCR0)
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

// Whether this CPU, OS and the active ISA can run the bfloat16 convolution/GEMM kernels; when
// not, *why says what is missing (the CPU feature AVX512-BF16, or the avx512 ISA: FCNKIT_ISA).
bool bf16_supported(std::string* why);

// Linux keeps the AMX tile data state off until a process asks for it (arch_prctl
// ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA). Asked once; true when granted.
bool amx_tiles_permitted();

}  // namespace fcn
