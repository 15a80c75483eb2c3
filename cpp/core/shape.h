// Output-size arithmetic for convolution, transposed convolution and pooling, in one place.
#pragma once
#include <cstdint>

#include "core/status.h"

namespace fcn {

struct Conv2dParams {
  int64_t n = 1, in_c = 0, in_h = 0, in_w = 0;
  int64_t out_c = 0, k_h = 1, k_w = 1;
  int64_t stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1;
  int64_t pad_t = 0, pad_l = 0, pad_b = 0, pad_r = 0;
  int64_t groups = 1;
  int64_t out_h = 0, out_w = 0;
  bool relu = false;
};

// Weight layout [in_c, out_c / groups, k_h, k_w] (ONNX / PyTorch).
struct ConvTranspose2dParams {
  int64_t n = 1, in_c = 0, in_h = 0, in_w = 0;
  int64_t out_c = 0, k_h = 1, k_w = 1;
  int64_t stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1;
  int64_t pad_t = 0, pad_l = 0, pad_b = 0, pad_r = 0;
  int64_t out_pad_h = 0, out_pad_w = 0;
  int64_t groups = 1;
  int64_t out_h = 0, out_w = 0;
  bool relu = false;
};

struct Pool2dParams {
  int64_t n = 1, c = 0, in_h = 0, in_w = 0;
  int64_t k_h = 1, k_w = 1, stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1;
  int64_t pad_t = 0, pad_l = 0, pad_b = 0, pad_r = 0;
  bool ceil_mode = false;
  bool count_include_pad = false;
  int64_t out_h = 0, out_w = 0;
};

// Every function here checks its arithmetic: TOO_LARGE where a size would overflow int64.

// floor((in + pads - dil*(k-1) - 1) / stride) + 1; SHAPE_MISMATCH when the window does not fit.
Status conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t dil, int64_t pad_begin,
                     int64_t pad_end, int64_t* out);

// SAME_UPPER padding (the extra pixel at the end) for one axis.
Status same_padding(int64_t in, int64_t k, int64_t stride, int64_t dil, int64_t* pad_begin,
                    int64_t* pad_end);

// (in - 1) * stride - pads + dil*(k-1) + out_pad + 1
Status conv_transpose_out_size(int64_t in, int64_t k, int64_t stride, int64_t dil,
                               int64_t pad_begin, int64_t pad_end, int64_t out_pad, int64_t* out);

// Pooling output size with Caffe/ONNX ceil mode: in ceil mode the last window must start
// inside the input or its left padding (PyTorch and ONNX drop a window that starts in the
// right padding), so out is reduced by one when it would.
Status pool_out_size(int64_t in, int64_t k, int64_t stride, int64_t dil, int64_t pad_begin,
                     int64_t pad_end, bool ceil_mode, int64_t* out);

}  // namespace fcn
