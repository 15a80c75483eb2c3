// How much memory one run may use: the budget every plan is checked against before anything is
// allocated (intermediates, workspace, packed weights, outputs).
#pragma once
#include <cstddef>
#include <string>

namespace fcn {

// Physical memory of the machine (sysconf), or the cgroup's limit when that is smaller; 0 when
// neither can be read.
size_t physical_memory_bytes();

// The budget of a run when the caller sets none: 3/4 of physical_memory_bytes() (8 GiB when
// that is unknown).
size_t default_memory_budget();

// 1536 -> "1.5 KiB", 3 << 30 -> "3.0 GiB" (exact bytes for anything under 1 KiB).
std::string bytes_str(size_t bytes);

}  // namespace fcn
