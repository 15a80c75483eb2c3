#include "binding/convert.h"

#include <cmath>
#include <cstring>
#include <deque>
#include <mutex>

#include "binding/instance.h"
#include "core/memory.h"
#include "core/thread_pool.h"

namespace fcnb {

using fcn::Code;

fcn::Shape to_shape(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsArray()) throw make_error(env, Code::kInvalidArgument, "Expected an array of dimensions for " + what);
  Napi::Array arr = v.As<Napi::Array>();
  if (arr.Length() > 8) throw make_error(env, Code::kInvalidArgument, "Expected at most 8 dimensions for " + what);
  fcn::Shape shape;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value d = arr[i];
    double x = d.IsNumber() ? d.As<Napi::Number>().DoubleValue() : -1;
    if (!d.IsNumber() || !std::isfinite(x) || x < 0 || x != std::floor(x) || x > 9.0e15)
      throw make_error(env, Code::kInvalidArgument,
                       "Expected non-negative integer dimensions for " + what + " but received " +
                           d.ToString().Utf8Value() + " at index " + std::to_string(i));
    shape.push_back(static_cast<int64_t>(x));
  }
  return shape;
}

void to_tensor(Napi::Env env, Napi::Value v, const std::string& what, Hold hold, JsTensor* out) {
  if (!v.IsObject()) throw make_error(env, Code::kInvalidArgument, "Expected a Tensor for " + what);
  Napi::Object obj = v.As<Napi::Object>();
  Napi::Value data = obj.Get("data");
  if (!data.IsTypedArray())
    throw make_error(env, Code::kInvalidArgument, "Expected Float32Array or Int32Array data for " + what);
  Napi::TypedArray ta = data.As<Napi::TypedArray>();
  fcn::DType dtype;
  if (ta.TypedArrayType() == napi_float32_array) dtype = fcn::DType::kF32;
  else if (ta.TypedArrayType() == napi_int32_array) dtype = fcn::DType::kI32;
  else throw make_error(env, Code::kInvalidArgument, "Expected Float32Array or Int32Array data for " + what);
  fcn::Shape shape = to_shape(env, obj.Get("shape"), what);
  int64_t n;
  throw_if_error(env, fcn::checked_numel(shape, what.c_str(), &n));
  if (static_cast<int64_t>(ta.ElementLength()) != n)
    throw make_error(env, Code::kShapeMismatch,
                     what + ": data has " + std::to_string(ta.ElementLength()) + " elements but shape " +
                         fcn::shape_str(shape) + " needs " + std::to_string(n));
  Napi::ArrayBuffer buf = ta.ArrayBuffer();
  void* src = n > 0 ? static_cast<char*>(buf.Data()) + ta.ByteOffset() : nullptr;
  out->view.dtype = dtype;
  out->view.shape = std::move(shape);
  out->view.data = src;
  if (hold == Hold::kCopy) own_copy(env, what, out);
}

namespace {

// Buffers of finished copies, kept for the next copies that fit (see Hold::kCopy). Bounded in
// count and bytes; shared by every environment (worker threads), hence the lock.
class CopyPool {
 public:
  // A kept buffer of at least `bytes` and at most twice that, moved into *out; false if none.
  bool take(size_t bytes, fcn::AlignedBuffer* out) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = kept_.begin(); it != kept_.end(); ++it) {
      if (it->size() >= bytes && it->size() / 2 <= bytes) {
        total_ -= it->size();
        *out = std::move(*it);
        kept_.erase(it);
        return true;
      }
    }
    return false;
  }
  void give(fcn::AlignedBuffer&& b) {
    if (b.size() < kMinBytes) return;
    std::lock_guard<std::mutex> lock(mu_);
    total_ += b.size();
    kept_.push_back(std::move(b));
    while (kept_.size() > kMaxBuffers || total_ > kMaxBytes) {
      total_ -= kept_.front().size();
      kept_.pop_front();
    }
  }

 private:
  static constexpr size_t kMinBytes = size_t(1) << 20;  // smaller ones fault in quickly
  static constexpr size_t kMaxBuffers = 4;
  static constexpr size_t kMaxBytes = size_t(256) << 20;
  std::mutex mu_;
  std::deque<fcn::AlignedBuffer> kept_;
  size_t total_ = 0;
};

// Never destroyed: copies may be handed back by threads still running at exit.
CopyPool& copy_pool() {
  static CopyPool* pool = new CopyPool();
  return *pool;
}

}  // namespace

JsTensor::~JsTensor() { copy_pool().give(std::move(owned)); }

void own_copy(Napi::Env env, const std::string& what, JsTensor* t) {
  if (!t->view.data || t->view.data == t->owned.data()) return;
  const size_t bytes = static_cast<size_t>(t->view.numel()) * fcn::dtype_size(t->view.dtype);
  if (!copy_pool().take(bytes, &t->owned) && !t->owned.allocate(bytes))
    throw make_error(env, Code::kOutOfMemory, what + ": cannot allocate " + fcn::bytes_str(bytes) + " to hold it");
  std::memcpy(t->owned.data(), t->view.data, bytes);
  t->view.data = t->owned.data();
}

size_t to_memory_budget(Napi::Env env, Napi::Value v) {
  if (v.IsUndefined() || v.IsNull()) return fcn::default_memory_budget();
  double b = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!v.IsNumber() || !(b >= 1) || b != std::floor(b))
    throw make_error(env, Code::kInvalidArgument,
                     "Expected a positive integer number of bytes for memoryBudgetBytes but received " + v.ToString().Utf8Value());
  return b >= 1.8e19 ? ~size_t(0) : static_cast<size_t>(b);
}

fcn::Attrs to_attrs(Napi::Env env, Napi::Value v, const std::string& who) {
  fcn::Attrs attrs;
  if (v.IsUndefined() || v.IsNull()) return attrs;
  if (!v.IsObject()) throw make_error(env, Code::kInvalidArgument, who + ": expected an options object");
  Napi::Object obj = v.As<Napi::Object>();
  Napi::Array keys = obj.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    std::string key = keys.Get(i).ToString().Utf8Value();
    Napi::Value val = obj.Get(key);
    if (val.IsUndefined()) continue;
    if (val.IsString()) {
      attrs.set_string(key, val.As<Napi::String>().Utf8Value());
    } else if (val.IsBoolean()) {
      attrs.set_nums(key, {val.As<Napi::Boolean>().Value() ? 1.0 : 0.0});
    } else if (val.IsNumber()) {
      attrs.set_nums(key, {val.As<Napi::Number>().DoubleValue()});
    } else if (val.IsArray()) {
      Napi::Array arr = val.As<Napi::Array>();
      std::vector<double> nums;
      for (uint32_t j = 0; j < arr.Length(); ++j) {
        Napi::Value e = arr[j];
        if (!e.IsNumber())
          throw make_error(env, Code::kInvalidArgument, who + ": option '" + key + "' must hold numbers only");
        nums.push_back(e.As<Napi::Number>().DoubleValue());
      }
      attrs.set_nums(key, std::move(nums));
    } else {
      throw make_error(env, Code::kInvalidArgument, who + ": option '" + key + "' has an unsupported type");
    }
  }
  return attrs;
}

int to_threads(Napi::Env env, Napi::Value v) {
  int requested = 0;
  if (v.IsNumber()) {
    double t = v.As<Napi::Number>().DoubleValue();
    if (!(t >= 0) || t != std::floor(t) || t > 4096)
      throw make_error(env, Code::kInvalidArgument, "Expected a non-negative integer for threads");
    requested = static_cast<int>(t);
  } else if (!v.IsUndefined() && !v.IsNull()) {
    throw make_error(env, Code::kInvalidArgument, "Expected a number for threads");
  }
  fcn::ThreadPool& pool = fcn::ThreadPool::global();
  return requested > 0 && requested < pool.num_threads() ? requested : pool.num_threads();
}

Napi::TypedArray new_typed_array(Napi::Env env, const fcn::TensorDesc& desc, const std::string& who, size_t budget,
                                 void** data) {
  int64_t n;
  throw_if_error(env, fcn::checked_numel(desc.shape, who.c_str(), &n));
  size_t bytes = static_cast<size_t>(n) * fcn::dtype_size(desc.dtype);
  if (bytes > budget)
    throw make_error(env, Code::kTooLarge,
                     who + ": an output of shape " + fcn::shape_str(desc.shape) + " needs " + fcn::bytes_str(bytes) +
                         ", past the memory budget of " + fcn::bytes_str(budget) +
                         " (use smaller inputs, or raise memoryBudgetBytes)");
  // napi_create_arraybuffer (Napi::ArrayBuffer::New) ends the process when V8 cannot allocate;
  // the constructor called from here throws a RangeError instead.
  Napi::ArrayBuffer buf;
  try {
    Napi::Value made = Instance::get(env)->array_buffer.Value().New({Napi::Number::New(env, double(bytes))});
    if (!made.IsArrayBuffer()) throw Napi::Error::New(env, "not an ArrayBuffer");
    buf = made.As<Napi::ArrayBuffer>();
  } catch (const Napi::Error&) {
    throw make_error(env, Code::kOutOfMemory, who + ": cannot allocate an output of shape " + fcn::shape_str(desc.shape) +
                                                  " (" + fcn::bytes_str(bytes) + ")");
  }
  *data = buf.Data();
  if (desc.dtype == fcn::DType::kI32) return Napi::Int32Array::New(env, static_cast<size_t>(n), buf, 0);
  return Napi::Float32Array::New(env, static_cast<size_t>(n), buf, 0);
}

Napi::Array shape_to_js(Napi::Env env, const fcn::Shape& shape) {
  Napi::Array arr = Napi::Array::New(env, shape.size());
  for (size_t i = 0; i < shape.size(); ++i) arr.Set(static_cast<uint32_t>(i), Napi::Number::New(env, double(shape[i])));
  return arr;
}

}  // namespace fcnb
