// JS values -> core structs, validated. Everything here runs on the JS thread.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "binding/errors.h"
#include "core/tensor.h"
#include "ops/op.h"

namespace fcnb {

// How native code holds a tensor passed from JS as { data: Float32Array | Int32Array, shape }.
//   kView: `view` points into the typed array's memory. Only for work that ends before control
//          returns to JS (runSync, op setup): no JS code can run meanwhile, so nothing can
//          transfer, detach or collect the buffer.
//   kCopy: the data is copied into `owned`, native memory the holder keeps. Every async run
//          holds its inputs so, and a Graph its constants: a run in flight reads only memory it
//          owns, whatever JS does to its arrays meanwhile (structuredClone or postMessage with
//          transfer, GC of the typed array, writes to it). The copy is made on the JS thread
//          into memory reused from earlier copies where one fits (fresh memory costs a page
//          fault per 4 KiB on first touch: ~1 ms per MB on a small VM), so a steady stream of
//          runs pays one memcpy per input (a 4-MP RGB image: 48 MB, ~10 ms).
enum class Hold { kView, kCopy };
struct JsTensor {
  fcn::Tensor view;
  fcn::AlignedBuffer owned;  // kCopy: the data view.data points to; handed back for reuse

  JsTensor() = default;
  JsTensor(JsTensor&&) = default;
  JsTensor& operator=(JsTensor&&) = default;
  ~JsTensor();
};

fcn::Shape to_shape(Napi::Env env, Napi::Value v, const std::string& what);
void to_tensor(Napi::Env env, Napi::Value v, const std::string& what, Hold hold, JsTensor* out);
// A kView tensor turned kCopy (OUT_OF_MEMORY when the copy cannot be had).
void own_copy(Napi::Env env, const std::string& what, JsTensor* t);
// A memory budget in bytes from JS: undefined or null -> fcn::default_memory_budget(); else a
// positive integer (INVALID_ARGUMENT otherwise).
size_t to_memory_budget(Napi::Env env, Napi::Value v);
fcn::Attrs to_attrs(Napi::Env env, Napi::Value v, const std::string& who);
int to_threads(Napi::Env env, Napi::Value v);

// A fresh output typed array of `desc` (an ordinary, non-external ArrayBuffer, made by the
// environment's own ArrayBuffer constructor so that a failed allocation is a catchable
// RangeError, not V8's fatal error). TOO_LARGE past `budget` before allocating; OUT_OF_MEMORY
// when the memory cannot be had.
Napi::TypedArray new_typed_array(Napi::Env env, const fcn::TensorDesc& desc, const std::string& who,
                                 size_t budget, void** data);

Napi::Array shape_to_js(Napi::Env env, const fcn::Shape& shape);

}  // namespace fcnb
