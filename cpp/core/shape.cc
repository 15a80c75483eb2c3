#include "core/shape.h"

#include <algorithm>

namespace fcn {

Status conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t dil, int64_t pad_begin,
                     int64_t pad_end, int64_t* out) {
  if (stride < 1 || dil < 1 || k < 1)
    return error(Code::kInvalidArgument, "kernel, stride and dilation must be >= 1");
  int64_t span = dil * (k - 1) + 1;
  int64_t padded = in + pad_begin + pad_end;
  if (padded < span)
    return error(Code::kShapeMismatch, "input of size ", in, " with padding ", pad_begin, "+", pad_end,
                 " is smaller than the kernel's extent ", span);
  *out = (padded - span) / stride + 1;
  return Status::OK();
}

void same_padding(int64_t in, int64_t k, int64_t stride, int64_t dil, int64_t* pad_begin,
                  int64_t* pad_end) {
  int64_t out = (in + stride - 1) / stride;
  int64_t total = std::max<int64_t>(0, (out - 1) * stride + dil * (k - 1) + 1 - in);
  *pad_begin = total / 2;
  *pad_end = total - total / 2;
}

Status conv_transpose_out_size(int64_t in, int64_t k, int64_t stride, int64_t dil,
                               int64_t pad_begin, int64_t pad_end, int64_t out_pad, int64_t* out) {
  if (stride < 1 || dil < 1 || k < 1)
    return error(Code::kInvalidArgument, "kernel, stride and dilation must be >= 1");
  if (out_pad < 0 || (out_pad >= stride && out_pad >= dil))
    return error(Code::kInvalidArgument, "output padding ", out_pad,
                 " must be smaller than the stride or the dilation");
  int64_t o = (in - 1) * stride - pad_begin - pad_end + dil * (k - 1) + out_pad + 1;
  if (o < 1)
    return error(Code::kShapeMismatch, "transposed convolution output size ", o,
                 " is not positive (padding too large)");
  *out = o;
  return Status::OK();
}

Status pool_out_size(int64_t in, int64_t k, int64_t stride, int64_t dil, int64_t pad_begin,
                     int64_t pad_end, bool ceil_mode, int64_t* out) {
  if (stride < 1 || dil < 1 || k < 1)
    return error(Code::kInvalidArgument, "kernel, stride and dilation must be >= 1");
  int64_t span = dil * (k - 1) + 1;
  int64_t padded = in + pad_begin + pad_end;
  if (padded < span)
    return error(Code::kShapeMismatch, "input of size ", in, " with padding ", pad_begin, "+", pad_end,
                 " is smaller than the pooling window ", span);
  int64_t o = ceil_mode ? (padded - span + stride - 1) / stride + 1 : (padded - span) / stride + 1;
  if (ceil_mode && (o - 1) * stride >= in + pad_begin) --o;
  *out = o;
  return Status::OK();
}

}  // namespace fcn
