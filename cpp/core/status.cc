#include "core/status.h"

#include <algorithm>

#include "core/tensor.h"

namespace fcn {

const char* code_name(Code code) {
  switch (code) {
    case Code::kOk: return "OK";
    case Code::kInvalidArgument: return "INVALID_ARGUMENT";
    case Code::kShapeMismatch: return "SHAPE_MISMATCH";
    case Code::kTooLarge: return "TOO_LARGE";
    case Code::kOutOfMemory: return "OUT_OF_MEMORY";
    case Code::kUnsupportedOp: return "UNSUPPORTED_OP";
    case Code::kBadModel: return "BAD_MODEL";
    case Code::kBadImage: return "BAD_IMAGE";
    case Code::kIoError: return "IO_ERROR";
    case Code::kCudaUnavailable: return "CUDA_UNAVAILABLE";
    case Code::kCudaError: return "CUDA_ERROR";
    case Code::kBinaryLoadFailed: return "BINARY_LOAD_FAILED";
    case Code::kAborted: return "ABORTED";
  }
  return "UNKNOWN";
}

std::string shape_str(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(dims[i]);
  }
  return s + "]";
}

const char* dtype_name(DType dtype) { return dtype == DType::kF32 ? "float32" : "int32"; }

Status checked_numel(const Shape& shape, const char* what, int64_t* out) {
  // The product of the non-zero dimensions is bounded too, so that no partial product of an
  // empty tensor's shape ([0, 2, 2^62]: an op's outer/inner split) can overflow (fuzz finding).
  int64_t n = 1;
  bool empty = false;
  for (int64_t d : shape) {
    if (d < 0) return error(Code::kInvalidArgument, what, ": negative dimension in ", shape_str(shape));
    if (d == 0) {
      empty = true;
      continue;
    }
    if (!checked_mul(n, d, &n) || n > kMaxElements)
      return error(Code::kTooLarge, what, ": shape ", shape_str(shape), " has more than 2^32 elements",
                   std::find(shape.begin(), shape.end(), 0) != shape.end() ? " (not counting its zero dimensions)" : "");
  }
  *out = empty ? 0 : n;
  return Status::OK();
}

}  // namespace fcn
