// JS values -> core structs, validated. Everything here runs on the JS thread.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "binding/errors.h"
#include "core/tensor.h"
#include "ops/op.h"

namespace fcnb {

// A tensor passed from JS as { data: Float32Array | Int32Array, shape: number[] }; the typed
// array stays referenced (pinned) for as long as the holder lives.
struct JsTensor {
  fcn::Tensor view;
  Napi::ObjectReference ref;
};

fcn::Shape to_shape(Napi::Env env, Napi::Value v, const std::string& what);
void to_tensor(Napi::Env env, Napi::Value v, const std::string& what, JsTensor* out);
fcn::Attrs to_attrs(Napi::Env env, Napi::Value v, const std::string& who);
int to_threads(Napi::Env env, Napi::Value v);

// A fresh output typed array of `desc` (an ordinary, non-external ArrayBuffer).
Napi::TypedArray new_typed_array(Napi::Env env, const fcn::TensorDesc& desc, const std::string& who,
                                 void** data);

Napi::Array shape_to_js(Napi::Env env, const fcn::Shape& shape);

}  // namespace fcnb
