#include "core/memory.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace fcn {

namespace {

// cgroup v2 memory.max ("max" or a byte count), then cgroup v1's limit; 0 when unlimited or unread.
size_t cgroup_limit() {
  for (const char* path : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::ifstream f(path);
    std::string s;
    if (!(f >> s) || s.empty() || s[0] < '0' || s[0] > '9') continue;
    char* end = nullptr;
    const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
    // v1 reports "unlimited" as a huge page-rounded number.
    if (v > 0 && v < (1ULL << 60)) return static_cast<size_t>(v);
  }
  return 0;
}

}  // namespace

size_t physical_memory_bytes() {
  static const size_t bytes = [] {
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    size_t phys = pages > 0 && page > 0 ? static_cast<size_t>(pages) * static_cast<size_t>(page) : 0;
    const size_t cg = cgroup_limit();
    if (cg && (phys == 0 || cg < phys)) phys = cg;
    return phys;
  }();
  return bytes;
}

size_t default_memory_budget() {
  const size_t phys = physical_memory_bytes();
  return phys ? phys / 4 * 3 : size_t(8) << 30;
}

std::string bytes_str(size_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " bytes";
  const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = double(bytes) / 1024;
  int u = 0;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace fcn
