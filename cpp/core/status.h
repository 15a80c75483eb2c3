// Status: the core's only error channel. Nothing in cpp/ throws across its API or aborts.
#pragma once
#include <cstdint>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace fcn {

// The closed list of error codes; binding/errors.h and ts/errors.ts mirror it by name.
enum class Code {
  kOk = 0,
  kInvalidArgument,
  kShapeMismatch,
  kTooLarge,
  kOutOfMemory,
  kUnsupportedOp,
  kBadModel,
  kBadImage,
  kIoError,
  kCudaUnavailable,
  kCudaError,
  kBinaryLoadFailed,
  kAborted,
};

const char* code_name(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status OK() { return Status(); }
  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

namespace detail {
inline void append(std::ostringstream&) {}
template <typename T, typename... Rest>
void append(std::ostringstream& os, const T& v, const Rest&... rest) {
  os << v;
  append(os, rest...);
}
}  // namespace detail

// Concatenates its arguments with operator<<.
template <typename... Args>
std::string str(const Args&... args) {
  std::ostringstream os;
  detail::append(os, args...);
  return os.str();
}

template <typename... Args>
Status error(Code code, const Args&... args) {
  return Status(code, str(args...));
}

// "[1, 3, 224, 224]"
std::string shape_str(const std::vector<int64_t>& dims);

}  // namespace fcn

#define FCN_RETURN_IF_ERROR(expr)          \
  do {                                     \
    ::fcn::Status fcn_status_ = (expr);    \
    if (!fcn_status_.ok()) return fcn_status_; \
  } while (0)
