#include "core/shape.h"

#include <algorithm>

#include "core/tensor.h"

namespace fcn {

namespace {

// dil*(k-1) + 1, the extent of a dilated window; false when it overflows.
bool window_span(int64_t k, int64_t dil, int64_t* out) {
  int64_t reach;
  return checked_mul(dil, k - 1, &reach) && checked_add(reach, 1, out);
}

// in + a + b for non-negative terms; false when it overflows.
bool sum3(int64_t in, int64_t a, int64_t b, int64_t* out) {
  int64_t t;
  return checked_add(in, a, &t) && checked_add(t, b, out);
}

Status too_large(const char* what, int64_t in, int64_t k, int64_t stride, int64_t dil, int64_t pb, int64_t pe) {
  return error(Code::kTooLarge, what, " of input size ", in, ", kernel ", k, ", stride ", stride, ", dilation ", dil,
               ", padding ", pb, "+", pe, " overflows 64-bit arithmetic");
}

Status check_window(int64_t k, int64_t stride, int64_t dil, int64_t pad_begin, int64_t pad_end) {
  if (stride < 1 || dil < 1 || k < 1)
    return error(Code::kInvalidArgument, "kernel, stride and dilation must be >= 1");
  if (pad_begin < 0 || pad_end < 0) return error(Code::kInvalidArgument, "padding must not be negative");
  return Status::OK();
}

}  // namespace

Status conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t dil, int64_t pad_begin,
                     int64_t pad_end, int64_t* out) {
  FCN_RETURN_IF_ERROR(check_window(k, stride, dil, pad_begin, pad_end));
  int64_t span, padded;
  if (in < 0 || !window_span(k, dil, &span) || !sum3(in, pad_begin, pad_end, &padded))
    return too_large("convolution", in, k, stride, dil, pad_begin, pad_end);
  if (padded < span)
    return error(Code::kShapeMismatch, "input of size ", in, " with padding ", pad_begin, "+", pad_end,
                 " is smaller than the kernel's extent ", span);
  *out = (padded - span) / stride + 1;
  return Status::OK();
}

Status same_padding(int64_t in, int64_t k, int64_t stride, int64_t dil, int64_t* pad_begin,
                    int64_t* pad_end) {
  FCN_RETURN_IF_ERROR(check_window(k, stride, dil, 0, 0));
  int64_t span, reach, total;
  // out = ceil(in / stride), so (out - 1) * stride <= in never overflows.
  const int64_t out = in / stride + (in % stride != 0);
  if (in < 0 || !window_span(k, dil, &span) || !checked_add((out - 1) * stride, span, &reach))
    return too_large("'same' padding", in, k, stride, dil, 0, 0);
  total = std::max<int64_t>(0, reach - in);
  *pad_begin = total / 2;
  *pad_end = total - total / 2;
  return Status::OK();
}

Status conv_transpose_out_size(int64_t in, int64_t k, int64_t stride, int64_t dil,
                               int64_t pad_begin, int64_t pad_end, int64_t out_pad, int64_t* out) {
  FCN_RETURN_IF_ERROR(check_window(k, stride, dil, pad_begin, pad_end));
  if (out_pad < 0 || (out_pad >= stride && out_pad >= dil))
    return error(Code::kInvalidArgument, "output padding ", out_pad,
                 " must be smaller than the stride or the dilation");
  if (in < 1) return error(Code::kShapeMismatch, "transposed convolution input size ", in, " is not positive");
  int64_t grown, span, full, o;
  if (!checked_mul(in - 1, stride, &grown) || !window_span(k, dil, &span) || !sum3(grown, span, out_pad, &full))
    return too_large("transposed convolution", in, k, stride, dil, pad_begin, pad_end);
  // full >= 1 and the pads are non-negative: the differences cannot overflow.
  o = full - pad_begin - pad_end;
  if (o < 1)
    return error(Code::kShapeMismatch, "transposed convolution output size ", o,
                 " is not positive (padding too large)");
  *out = o;
  return Status::OK();
}

Status pool_out_size(int64_t in, int64_t k, int64_t stride, int64_t dil, int64_t pad_begin,
                     int64_t pad_end, bool ceil_mode, int64_t* out) {
  FCN_RETURN_IF_ERROR(check_window(k, stride, dil, pad_begin, pad_end));
  int64_t span, padded;
  if (in < 0 || !window_span(k, dil, &span) || !sum3(in, pad_begin, pad_end, &padded))
    return too_large("pooling", in, k, stride, dil, pad_begin, pad_end);
  if (padded < span)
    return error(Code::kShapeMismatch, "input of size ", in, " with padding ", pad_begin, "+", pad_end,
                 " is smaller than the pooling window ", span);
  // padded - span + stride - 1 cannot overflow: padded - span >= 0 and both are below 2^63.
  const int64_t rest = padded - span;
  int64_t o = ceil_mode ? rest / stride + (rest % stride != 0) + 1 : rest / stride + 1;
  int64_t start;
  if (ceil_mode && (!checked_mul(o - 1, stride, &start) || start >= in + pad_begin)) --o;
  *out = o;
  return Status::OK();
}

}  // namespace fcn
