// Tensor descriptors and non-owning views. Layout is always dense, row-major (NCHW for images).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/status.h"

namespace fcn {

enum class DType { kF32 = 0, kI32 = 1 };

inline size_t dtype_size(DType) { return 4; }
const char* dtype_name(DType dtype);

using Shape = std::vector<int64_t>;

// The largest tensor the core will describe: 2^32 elements (16 GiB of float32). Anything
// bigger is TOO_LARGE before a byte is allocated.
constexpr int64_t kMaxElements = int64_t(1) << 32;

// a * b, or false when it overflows int64.
inline bool checked_mul(int64_t a, int64_t b, int64_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}
inline bool checked_add(int64_t a, int64_t b, int64_t* out) {
  return !__builtin_add_overflow(a, b, out);
}

// Number of elements of `shape`, checked: negative dims are INVALID_ARGUMENT, a product
// beyond kMaxElements is TOO_LARGE, and so is one of the non-zero dims of an empty shape. `what` names the tensor in the message.
Status checked_numel(const Shape& shape, const char* what, int64_t* out);

inline int64_t numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// What an op knows about an input or output before running. `constant` is set when the
// tensor's data is fixed for the op's lifetime (weights in a plan), so the op may pack it once.
struct TensorDesc {
  DType dtype = DType::kF32;
  Shape shape;
  const void* constant = nullptr;
};

struct Tensor {
  DType dtype = DType::kF32;
  Shape shape;
  void* data = nullptr;

  float* f32() const { return static_cast<float*>(data); }
  int32_t* i32() const { return static_cast<int32_t*>(data); }
  int64_t numel() const { return fcn::numel(shape); }
};

}  // namespace fcn
