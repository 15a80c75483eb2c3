// 64-byte aligned, owned float/byte storage that reports allocation failure instead of throwing.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <utility>

namespace fcn {

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  ~AlignedBuffer() { std::free(ptr_); }
  AlignedBuffer(AlignedBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    std::swap(ptr_, o.ptr_);
    std::swap(size_, o.size_);
    return *this;
  }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;

  // False when the memory cannot be had; the buffer is then empty.
  bool allocate(size_t bytes) {
    std::free(ptr_);
    ptr_ = nullptr;
    size_ = 0;
    if (bytes == 0) return true;
    void* p = nullptr;
    if (posix_memalign(&p, 64, (bytes + 63) & ~size_t(63)) != 0) return false;
    ptr_ = p;
    size_ = bytes;
    return true;
  }
  void* data() const { return ptr_; }
  float* f32() const { return static_cast<float*>(ptr_); }
  size_t size() const { return size_; }

 private:
  void* ptr_ = nullptr;
  size_t size_ = 0;
};

}  // namespace fcn
