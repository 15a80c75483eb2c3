#pragma once
#include "core/cpu_features.h"

namespace fcn {
// Single-thread FMA throughput in GFLOP/s on `isa` (best run over about `seconds`).
double measure_fma_peak_gflops(Isa isa, double seconds);
}  // namespace fcn
