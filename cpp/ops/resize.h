// The resize op's reading of its attrs and its per-axis sampling tables, shared with the CUDA
// lowering (cpp/cuda/lower.cc), so that both devices read the same source pixels with the same
// weights. Semantics: see cpp/ops/resize.cc.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/shape.h"
#include "core/status.h"
#include "ops/op.h"

namespace fcn {

enum class ResizeCoord { kHalfPixel, kAlignCorners, kAsymmetric, kPytorchHalfPixel };
enum class ResizeRounding { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };

struct ResizeAttrs {
  bool nearest = false;  // else bilinear
  ResizeCoord coord = ResizeCoord::kHalfPixel;
  ResizeRounding rounding = ResizeRounding::kRoundPreferFloor;
  bool has_size = false;  // else scale
  int64_t size[2] = {0, 0};
  float scale[2] = {0.f, 0.f};
};

// INVALID_ARGUMENT / TOO_LARGE for attrs the op refuses, naming them.
Status parse_resize_attrs(const Attrs& a, const std::string& who, ResizeAttrs* out);

// Output index o of an axis reads inputs i0 and i1 with weights w0 and w1 (nearest: i0, w0 = 1).
struct ResizeTap {
  int64_t i0, i1;
  float w0, w1;
};

struct ResizeGeometry {
  int64_t out_h = 0, out_w = 0;
  bool copy = false;  // the output has the input's size: a copy
};

// For input xs [N, C, H, W]: the output size (errors as the op's setup gives them) and the taps,
// out_h for the rows followed by out_w for the columns.
Status resize_geometry(const ResizeAttrs& a, const std::string& who, const Shape& xs, ResizeGeometry* g,
                       std::vector<ResizeTap>* taps);

}  // namespace fcn
