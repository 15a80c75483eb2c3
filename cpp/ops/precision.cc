#include "ops/precision.h"

namespace fcn {

Status parse_precision(const Attrs& a, const std::string& who, bool* bf16) {
  std::string p;
  FCN_RETURN_IF_ERROR(a.get_string(who, "precision", "fp32", &p));
  if (p != "fp32" && p != "bf16")
    return error(Code::kInvalidArgument, who, ": precision '", p, "' is not one of fp32, bf16 (on the CPU)");
  *bf16 = p == "bf16";
  return Status::OK();
}

Status check_bf16_supported(const std::string& who) {
  std::string why;
  if (bf16_supported(&why)) return Status::OK();
  return error(Code::kInvalidArgument, who, ": precision 'bf16' is not available on the CPU: ", why);
}

}  // namespace fcn
