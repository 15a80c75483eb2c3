// Status -> JS Error with a stable `code`. ts/errors.ts turns these into FcnkitError.
#pragma once
#include <napi.h>

#include "core/status.h"

namespace fcnb {

inline Napi::Error make_error(Napi::Env env, fcn::Code code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, fcn::code_name(code)));
  return err;
}

inline Napi::Error make_error(Napi::Env env, const fcn::Status& s) {
  return make_error(env, s.code(), s.message());
}

// Throws (as a C++ exception that node-addon-api turns into a JS exception) unless ok.
inline void throw_if_error(Napi::Env env, const fcn::Status& s) {
  if (!s.ok()) throw make_error(env, s);
}

}  // namespace fcnb
