// fcn_kernel_test: every kernel plan on every ISA this machine runs, against its reference twin,
// over a data-driven sweep of awkward shapes. Inputs come from a fresh seed each run (printed;
// pass it as the first argument to replay a failure). Inputs, outputs and workspaces sit flush
// against an unmapped page, so a kernel that reads or writes past a caller's buffer crashes
// the test instead of passing by luck.
//
// Usage: fcn_kernel_test [seed]      exit status 0 when every case passes.
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <memory>
#include <random>
#include <string>
#include <vector>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FCN_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(FCN_ASAN)
#define FCN_ASAN 1
#endif
#ifdef FCN_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

#include "core/buffer.h"
#include "core/shape.h"
#include "core/thread_pool.h"
#include "kernels/bf16.h"
#include "kernels/kernels.h"

namespace fcn {
namespace {

// ---- guarded buffers -----------------------------------------------------------------------

// `floats` floats that end exactly where an inaccessible page begins.
class GuardedBuffer {
 public:
  explicit GuardedBuffer(size_t floats) : bytes_(floats * sizeof(float)) {
    page_ = size_t(sysconf(_SC_PAGESIZE));
    const size_t body = (bytes_ + page_ - 1) / page_ * page_;
    map_bytes_ = body + page_;
    void* m = mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) throw std::bad_alloc();  // main() reports it
    map_ = static_cast<char*>(m);
    mprotect(map_ + body, page_, PROT_NONE);
    data_ = map_ + body - bytes_;
  }
  ~GuardedBuffer() { munmap(map_, map_bytes_); }
  GuardedBuffer(const GuardedBuffer&) = delete;
  GuardedBuffer& operator=(const GuardedBuffer&) = delete;
  float* f32() const { return reinterpret_cast<float*>(data_); }
  void* data() const { return data_; }

 private:
  size_t bytes_, page_ = 4096, map_bytes_ = 0;
  char* map_ = nullptr;
  char* data_ = nullptr;
};

// ---- bookkeeping ---------------------------------------------------------------------------

int g_passed = 0, g_failed = 0;

// The case running now, so that a fault on a guard page names it before the test dies.
char g_current[320] = "";
void set_current(const std::string& what) {
  std::snprintf(g_current, sizeof g_current, "%s", what.c_str());
}
[[maybe_unused]] void on_fault(int sig) {
  const char* head = "CRASH ";
  const char* tail = sig == SIGSEGV ? ": SIGSEGV (a kernel touched memory outside a caller's buffer)\n"
                                    : ": fatal signal\n";
  ssize_t r = write(2, head, std::strlen(head));
  r = write(2, g_current, std::strlen(g_current));
  r = write(2, tail, std::strlen(tail));
  (void)r;
  _exit(3);
}
std::mt19937_64 g_rng;

void fill_random(float* p, size_t n) {
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  for (size_t i = 0; i < n; ++i) p[i] = d(g_rng);
}

// Normalised max error, with NaN required in exactly the places the reference has it.
struct Compare {
  double err = 0;
  int64_t nan_mismatch = 0;
};
Compare compare(const float* got, const float* ref, size_t n) {
  Compare c;
  double max_ref = 0, max_diff = 0;
  for (size_t i = 0; i < n; ++i) {
    const bool gn = std::isnan(got[i]), rn = std::isnan(ref[i]);
    if (gn != rn) {
      ++c.nan_mismatch;
      continue;
    }
    if (rn) continue;
    max_ref = std::max(max_ref, std::fabs(double(ref[i])));
    const double d = std::fabs(double(got[i]) - double(ref[i]));
    if (!(d <= max_diff)) max_diff = d;  // also catches inf - inf
  }
  c.err = max_diff / (max_ref + 1e-6);
  return c;
}

constexpr double kTol = 2e-5;

void report(bool ok, const std::string& what, const std::string& detail) {
  (ok ? g_passed : g_failed)++;
  std::printf("%s %s %s\n", ok ? "PASS" : "FAIL", what.c_str(), detail.c_str());
  std::fflush(stdout);
}

std::vector<Isa> isas() {
  std::vector<Isa> out;
  for (Isa i : {Isa::kRef, Isa::kAvx2, Isa::kAvx512})
    if (isa_supported(i)) out.push_back(i);
  return out;
}

// The plan must not have fallen back to another ISA silently.
bool name_matches(const char* name, Isa isa) {
  std::string n(name), suffix = std::string("__") + isa_name(isa);
  return n.size() >= suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0;
}

ThreadPool& pool2() {
  static ThreadPool pool(2);
  return pool;
}

// Runs `run(rc, out, workspace)` on one thread and on two, checks the two agree bit for bit and
// returns the one-thread output in `out`.
template <class Plan, class RunFn>
bool run_both(const Plan& plan, size_t out_floats, const RunFn& run, std::vector<float>* out,
              std::string* why) {
  RunControl rc1{&pool2(), 1, nullptr}, rc2{&pool2(), 2, nullptr};
  GuardedBuffer y1(out_floats), y2(out_floats);
  GuardedBuffer ws1(plan.workspace_bytes(1) / sizeof(float) + 1);
  GuardedBuffer ws2(plan.workspace_bytes(2) / sizeof(float) + 1);
  // Garbage in the outputs: a plan must write every element.
  for (size_t i = 0; i < out_floats; ++i) y1.f32()[i] = y2.f32()[i] = 1e30f;
  run(rc1, y1.f32(), ws1.data());
  run(rc2, y2.f32(), ws2.data());
  out->assign(y1.f32(), y1.f32() + out_floats);
  if (std::memcmp(y1.f32(), y2.f32(), out_floats * sizeof(float)) != 0) {
    *why = "1-thread and 2-thread outputs differ";
    return false;
  }
  return true;
}

std::string fmt_err(const Compare& c) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "err=%.2e", c.err);
  std::string s = buf;
  if (c.nan_mismatch) s += " nan_mismatch=" + std::to_string(c.nan_mismatch);
  return s;
}

// ---- conv2d --------------------------------------------------------------------------------

struct ConvCase {
  int64_t n, c, h, w, oc, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, g;
  bool bias, relu;
  const char* note;
  bool nan = false;  // put a NaN in the input
};

std::string describe(const ConvCase& k) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "n%" PRId64 " %" PRId64 "x%" PRId64 "x%" PRId64 "->%" PRId64 " k%" PRId64 "x%" PRId64
                " s%" PRId64 ",%" PRId64 " d%" PRId64 ",%" PRId64 " p%" PRId64 ",%" PRId64 ",%" PRId64
                ",%" PRId64 " g%" PRId64 "%s%s%s (%s)",
                k.n, k.c, k.h, k.w, k.oc, k.kh, k.kw, k.sh, k.sw, k.dh, k.dw, k.pt, k.pl, k.pb, k.pr,
                k.g, k.bias ? " bias" : "", k.relu ? " relu" : "", k.nan ? " nan" : "", k.note);
  return buf;
}

// algo kWinograd: that plan, forced (ISAs other than ref). want_kernel: the plan's name must hold it.
// scratch > 0: plans made with that scratch bound (the tiled paths: im2col instead of the direct
// band, narrower column blocks, K blocks no longer than the tap table), ref skipped, and each
// plan's workspace checked against the bound.
void test_conv(const ConvCase& k, ConvAlgo algo = ConvAlgo::kAuto, const char* want_kernel = nullptr,
               size_t scratch = 0) {
  Conv2dParams p;
  p.n = k.n; p.in_c = k.c; p.in_h = k.h; p.in_w = k.w; p.out_c = k.oc; p.k_h = k.kh; p.k_w = k.kw;
  p.stride_h = k.sh; p.stride_w = k.sw; p.dil_h = k.dh; p.dil_w = k.dw;
  p.pad_t = k.pt; p.pad_l = k.pl; p.pad_b = k.pb; p.pad_r = k.pr; p.groups = k.g; p.relu = k.relu;
  const std::string what = "conv2d " + describe(k) + (scratch ? " scratch " + std::to_string(scratch) : "");
  set_current("setting up " + what);
  if (!conv_out_size(p.in_h, p.k_h, p.stride_h, p.dil_h, p.pad_t, p.pad_b, &p.out_h).ok() ||
      !conv_out_size(p.in_w, p.k_w, p.stride_w, p.dil_w, p.pad_l, p.pad_r, &p.out_w).ok()) {
    report(false, what, "bad test case");
    return;
  }
  const size_t xn = size_t(p.n * p.in_c * p.in_h * p.in_w);
  const size_t wn = size_t(p.out_c * (p.in_c / p.groups) * p.k_h * p.k_w);
  const size_t yn = size_t(p.n * p.out_c * p.out_h * p.out_w);
  GuardedBuffer x(xn), w(wn), b(size_t(p.out_c));
  fill_random(x.f32(), xn);
  fill_random(w.f32(), wn);
  fill_random(b.f32(), size_t(p.out_c));
  if (k.nan) x.f32()[xn / 2] = std::nanf("");
  std::vector<float> ref(yn);
  set_current("reference twin for " + what);
  f32_conv2d__ref(p, x.f32(), w.f32(), k.bias ? b.f32() : nullptr, ref.data());

  for (Isa isa : isas()) {
    const bool forced = algo == ConvAlgo::kWinograd;
    if (forced && isa == Isa::kRef) continue;
    if ((want_kernel || scratch) && isa == Isa::kRef) continue;
    const std::string tag = std::string(isa_name(isa)) + (forced ? " winograd " : " ") + what;
    set_current(tag);
    PlanLimits limits;
    if (scratch) limits.scratch_bytes = scratch;
    std::unique_ptr<Conv2dPlan> plan;
    const Status made = make_conv2d_plan(isa, p, &plan, algo, limits);
    if (!made.ok() || !plan) {
      report(false, tag, "no plan: " + made.message());
      continue;
    }
    // Per thread: a band, a column block and a tap table, each about the bound (a column block
    // never narrower than one register panel).
    if (scratch == 1 && (std::strstr(plan->name(), "direct") || std::strstr(plan->name(), "winograd"))) {
      report(false, tag, std::string("[") + plan->name() + "] a 1-byte bound leaves no room for a band or Winograd");
      continue;
    }
    if (scratch && plan->workspace_bytes(1) > 64 + 3 * std::max<size_t>(scratch, 16 << 10)) {
      report(false, tag, std::string("[") + plan->name() + "] workspace " + std::to_string(plan->workspace_bytes(1)) +
                             " bytes past the scratch bound");
      continue;
    }
    if (!name_matches(plan->name(), isa)) {
      report(false, tag, std::string("plan ") + plan->name() + " is not for this ISA");
      continue;
    }
    const char* want = forced ? "winograd" : want_kernel;
    if (want && !std::strstr(plan->name(), want)) {
      report(false, tag, std::string("plan ") + plan->name() + " is not the " + want + " one");
      continue;
    }
    AlignedBuffer packed;
    if (!packed.allocate(plan->packed_weight_floats() * sizeof(float) + 64)) {
      report(false, tag, "out of memory");
      continue;
    }
    plan->pack_weights(w.f32(), packed.f32());
    std::vector<float> y;
    std::string why;
    const bool same = run_both(*plan, yn, [&](const RunControl& rc, float* out, void* ws) {
      plan->run(x.f32(), packed.f32(), k.bias ? b.f32() : nullptr, out, ws, rc);
    }, &y, &why);
    const Compare c = compare(y.data(), ref.data(), yn);
    const bool ok = same && c.err <= kTol && c.nan_mismatch == 0;
    report(ok, tag, std::string("[") + plan->name() + "] " + fmt_err(c) + (same ? "" : " " + why));
  }
}

// ---- conv_transpose2d ----------------------------------------------------------------------

struct DeconvCase {
  int64_t n, c, h, w, oc, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, oph, opw, g;
  bool bias, relu;
  const char* note;
  bool nan = false;
};

std::string describe(const DeconvCase& k) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "n%" PRId64 " %" PRId64 "x%" PRId64 "x%" PRId64 "->%" PRId64 " k%" PRId64 "x%" PRId64
                " s%" PRId64 ",%" PRId64 " d%" PRId64 ",%" PRId64 " p%" PRId64 ",%" PRId64 ",%" PRId64
                ",%" PRId64 " op%" PRId64 ",%" PRId64 " g%" PRId64 "%s%s%s (%s)",
                k.n, k.c, k.h, k.w, k.oc, k.kh, k.kw, k.sh, k.sw, k.dh, k.dw, k.pt, k.pl, k.pb, k.pr,
                k.oph, k.opw, k.g, k.bias ? " bias" : "", k.relu ? " relu" : "", k.nan ? " nan" : "",
                k.note);
  return buf;
}

void test_deconv(const DeconvCase& k) {
  ConvTranspose2dParams p;
  p.n = k.n; p.in_c = k.c; p.in_h = k.h; p.in_w = k.w; p.out_c = k.oc; p.k_h = k.kh; p.k_w = k.kw;
  p.stride_h = k.sh; p.stride_w = k.sw; p.dil_h = k.dh; p.dil_w = k.dw;
  p.pad_t = k.pt; p.pad_l = k.pl; p.pad_b = k.pb; p.pad_r = k.pr;
  p.out_pad_h = k.oph; p.out_pad_w = k.opw; p.groups = k.g; p.relu = k.relu;
  const std::string what = "conv_transpose2d " + describe(k);
  set_current("setting up " + what);
  if (!conv_transpose_out_size(p.in_h, p.k_h, p.stride_h, p.dil_h, p.pad_t, p.pad_b, p.out_pad_h,
                               &p.out_h).ok() ||
      !conv_transpose_out_size(p.in_w, p.k_w, p.stride_w, p.dil_w, p.pad_l, p.pad_r, p.out_pad_w,
                               &p.out_w).ok()) {
    report(false, what, "bad test case");
    return;
  }
  const size_t xn = size_t(p.n * p.in_c * p.in_h * p.in_w);
  const size_t wn = size_t(p.in_c * (p.out_c / p.groups) * p.k_h * p.k_w);
  const size_t yn = size_t(p.n * p.out_c * p.out_h * p.out_w);
  GuardedBuffer x(xn), w(wn), b(size_t(p.out_c));
  fill_random(x.f32(), xn);
  fill_random(w.f32(), wn);
  fill_random(b.f32(), size_t(p.out_c));
  if (k.nan) x.f32()[xn / 2] = std::nanf("");
  std::vector<float> ref(yn);
  set_current("reference twin for " + what);
  f32_conv_transpose2d__ref(p, x.f32(), w.f32(), k.bias ? b.f32() : nullptr, ref.data());

  for (Isa isa : isas()) {
    const std::string tag = std::string(isa_name(isa)) + " " + what;
    set_current(tag);
    std::unique_ptr<ConvTranspose2dPlan> plan;
    const Status made = make_conv_transpose2d_plan(isa, p, &plan);
    if (!made.ok() || !plan) {
      report(false, tag, "no plan: " + made.message());
      continue;
    }
    if (!name_matches(plan->name(), isa)) {
      report(false, tag, std::string("plan ") + plan->name() + " is not for this ISA");
      continue;
    }
    AlignedBuffer packed;
    if (!packed.allocate(plan->packed_weight_floats() * sizeof(float) + 64)) {
      report(false, tag, "out of memory");
      continue;
    }
    plan->pack_weights(w.f32(), packed.f32());
    std::vector<float> y;
    std::string why;
    const bool same = run_both(*plan, yn, [&](const RunControl& rc, float* out, void* ws) {
      plan->run(x.f32(), packed.f32(), k.bias ? b.f32() : nullptr, out, ws, rc);
    }, &y, &why);
    const Compare c = compare(y.data(), ref.data(), yn);
    const bool ok = same && c.err <= kTol && c.nan_mismatch == 0;
    report(ok, tag, std::string("[") + plan->name() + "] " + fmt_err(c) + (same ? "" : " " + why));
  }
}

// ---- gemm ----------------------------------------------------------------------------------

struct GemmCase {
  int64_t m, n, k, lda_pad, ldb_pad, ldc_pad;
  bool bias, relu;
  const char* note;
  bool nan = false;
};

void test_gemm(const GemmCase& t) {
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "gemm m%" PRId64 " n%" PRId64 " k%" PRId64 " lda+%" PRId64 " ldb+%" PRId64 " ldc+%" PRId64
                "%s%s%s (%s)",
                t.m, t.n, t.k, t.lda_pad, t.ldb_pad, t.ldc_pad, t.bias ? " bias" : "",
                t.relu ? " relu" : "", t.nan ? " nan" : "", t.note);
  const std::string what = buf;
  set_current("setting up " + what);
  const int64_t lda = t.k + t.lda_pad, ldb = t.n + t.ldb_pad, ldc = t.n + t.ldc_pad;
  const size_t an = size_t(t.m * lda), bn = size_t(t.k * ldb), cn = size_t(t.m * ldc);
  GuardedBuffer a(an + 1), b(bn + 1), bias(size_t(t.m) + 1);
  fill_random(a.f32(), an);
  fill_random(b.f32(), bn);
  fill_random(bias.f32(), size_t(t.m));
  if (t.nan) b.f32()[bn / 2] = std::nanf("");
  std::vector<float> ref(cn, 0.f);
  set_current("reference twin for " + what);
  f32_gemm__ref(t.m, t.n, t.k, a.f32(), lda, b.f32(), ldb, ref.data(), ldc);
  for (int64_t i = 0; i < t.m; ++i)
    for (int64_t j = 0; j < t.n; ++j) {
      float v = ref[i * ldc + j] + (t.bias ? bias.f32()[i] : 0.f);
      ref[i * ldc + j] = t.relu && v < 0.f ? 0.f : v;
    }

  for (Isa isa : isas()) {
    const std::string tag = std::string(isa_name(isa)) + " " + what;
    set_current(tag);
    std::unique_ptr<GemmPlan> plan;
    const Status made = make_gemm_plan(isa, t.m, t.n, t.k, &plan);
    if (!made.ok() || !plan) {
      report(false, tag, "no plan: " + made.message());
      continue;
    }
    if (!name_matches(plan->name(), isa)) {
      report(false, tag, std::string("plan ") + plan->name() + " is not for this ISA");
      continue;
    }
    AlignedBuffer packed;
    if (!packed.allocate(plan->packed_a_floats() * sizeof(float) + 64)) {
      report(false, tag, "out of memory");
      continue;
    }
    plan->pack_a(a.f32(), lda, packed.f32());
    std::vector<float> y;
    std::string why;
    const bool same = run_both(*plan, cn, [&](const RunControl& rc, float* out, void* ws) {
      // The padding columns of C must stay as they were: ldc > n leaves them to the caller.
      plan->run(packed.f32(), b.f32(), ldb, t.bias ? bias.f32() : nullptr, t.relu, out, ldc, ws, rc);
      for (int64_t i = 0; i < t.m; ++i)
        for (int64_t j = t.n; j < ldc; ++j)
          if (out[i * ldc + j] != 1e30f) out[i * ldc + j] = std::nanf("");
        else out[i * ldc + j] = 0.f;
    }, &y, &why);
    for (int64_t i = 0; i < t.m; ++i)
      for (int64_t j = t.n; j < ldc; ++j) ref[i * ldc + j] = 0.f;
    const Compare c = compare(y.data(), ref.data(), cn);
    const bool ok = same && c.err <= kTol && c.nan_mismatch == 0;
    report(ok, tag, std::string("[") + plan->name() + "] " + fmt_err(c) + (same ? "" : " " + why));
  }
}

// ---- abort ---------------------------------------------------------------------------------

// A set abort flag makes run() return early; its output is then unspecified, so this only
// checks that the run stops and touches nothing outside its buffers.
void test_abort() {
  Conv2dParams p;
  p.in_c = 64; p.in_h = 32; p.in_w = 32; p.out_c = 64; p.k_h = 3; p.k_w = 3;
  p.pad_t = p.pad_l = p.pad_b = p.pad_r = 1; p.out_h = 32; p.out_w = 32;
  std::atomic<bool> stop{true};
  for (Isa isa : isas()) {
    set_current(std::string(isa_name(isa)) + " conv2d abort");
    std::unique_ptr<Conv2dPlan> plan;
    (void)make_conv2d_plan(isa, p, &plan);
    AlignedBuffer packed;
    GuardedBuffer x(size_t(64 * 32 * 32)), w(size_t(64 * 64 * 9)), y(size_t(64 * 32 * 32));
    fill_random(x.f32(), size_t(64 * 32 * 32));
    fill_random(w.f32(), size_t(64 * 64 * 9));
    const bool ok = plan && packed.allocate(plan->packed_weight_floats() * sizeof(float));
    if (ok) {
      plan->pack_weights(w.f32(), packed.f32());
      GuardedBuffer ws(plan->workspace_bytes(2) / sizeof(float) + 1);
      RunControl rc{&pool2(), 2, &stop};
      plan->run(x.f32(), packed.f32(), nullptr, y.f32(), ws.data(), rc);
    }
    report(ok, std::string(isa_name(isa)) + " conv2d abort flag set before run", "returned");
  }
}

// ---- random shapes -------------------------------------------------------------------------

// Small random shapes from the run's seed: every run also tries combinations nobody listed.
void random_sweep() {
  auto pick = [](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(g_rng);
  };
  for (int i = 0; i < 40; ++i) {
    ConvCase c{};
    const int kind = int(pick(0, 3));  // 0 dense, 1 grouped, 2 depthwise, 3 pointwise
    c.g = kind == 1 ? pick(2, 3) : 1;
    c.c = c.g * pick(1, 12);
    c.oc = c.g * pick(1, 20);
    if (kind == 2) c.g = c.c = c.oc = pick(1, 12);
    c.kh = kind == 3 ? 1 : pick(1, 5);
    c.kw = kind == 3 ? 1 : pick(1, 5);
    c.sh = kind == 3 ? 1 : pick(1, 3);
    c.sw = kind == 3 || kind == 2 ? 1 : pick(1, 3);
    c.dh = pick(1, 2);
    c.dw = pick(1, 2);
    if (kind != 3) {
      c.pt = pick(0, 4); c.pl = pick(0, 4); c.pb = pick(0, 4); c.pr = pick(0, 4);
    }
    c.n = pick(1, 2);
    c.h = pick(1, 20);
    c.w = pick(1, 40);
    // Grow the image until the (dilated) kernel fits inside the padded input.
    while (c.h + c.pt + c.pb < c.dh * (c.kh - 1) + 1) ++c.h;
    while (c.w + c.pl + c.pr < c.dw * (c.kw - 1) + 1) ++c.w;
    c.bias = pick(0, 1);
    c.relu = pick(0, 1);
    c.nan = pick(0, 5) == 0;
    c.note = "random";
    test_conv(c);
  }
  // Shapes for the direct path: stride_w 1 and an output width that tiles well at NR 16 and 32.
  for (int i = 0; i < 24; ++i) {
    ConvCase c{};
    const int64_t widths[] = {16, 31, 32, 48, 63, 64, 32};
    c.g = pick(1, 3);
    c.c = c.g * pick(1, 9);
    c.oc = c.g * pick(1, 20);
    c.kh = pick(1, 5);
    c.kw = pick(1, 5);
    c.sh = pick(1, 3);
    c.sw = 1;
    c.dh = pick(1, 2);
    c.dw = pick(1, 2);
    c.pt = pick(0, 4); c.pl = pick(0, 4); c.pb = pick(0, 4); c.pr = pick(0, 4);
    c.n = pick(1, 2);
    c.h = pick(1, 24);
    const int64_t ow = widths[pick(0, 6)];
    c.w = ow - c.pl - c.pr + c.dw * (c.kw - 1);
    if (c.w < 1) {
      c.pl = c.pr = 0;
      c.w = ow + c.dw * (c.kw - 1);
    }
    while (c.h + c.pt + c.pb < c.dh * (c.kh - 1) + 1) ++c.h;
    c.bias = pick(0, 1);
    c.relu = pick(0, 1);
    c.nan = pick(0, 5) == 0;
    c.note = "random direct";
    test_conv(c);
  }
  for (int i = 0; i < 30; ++i) {
    DeconvCase d{};
    d.g = pick(1, 3);
    d.c = d.g * pick(1, 8);
    d.oc = d.g * pick(1, 8);
    // Mostly small kernels; a quarter wide enough for whole-vector runs along kx.
    const bool wide = pick(0, 3) == 0;
    d.kh = wide ? pick(4, 20) : pick(1, 6);
    d.kw = wide ? pick(8, 36) : pick(1, 6);
    d.sh = pick(1, 4); d.sw = pick(1, 4);
    d.dh = pick(1, 2); d.dw = pick(1, 2);
    d.pt = pick(0, d.dh * (d.kh - 1)); d.pb = pick(0, d.dh * (d.kh - 1));
    d.pl = pick(0, d.dw * (d.kw - 1)); d.pr = pick(0, d.dw * (d.kw - 1));
    d.oph = pick(0, std::max(d.sh, d.dh) - 1);
    d.opw = pick(0, std::max(d.sw, d.dw) - 1);
    d.n = pick(1, 2);
    // Sometimes more than one pixel block (about 128 input pixels).
    d.h = pick(0, 3) == 0 ? pick(10, 16) : pick(1, 9);
    d.w = pick(1, 13) + (d.h >= 10 ? 8 : 0);
    d.bias = pick(0, 1);
    d.relu = pick(0, 1);
    d.nan = pick(0, 5) == 0;
    d.note = "random";
    // The output must have at least one pixel; otherwise draw the padding again smaller.
    while ((d.h - 1) * d.sh - d.pt - d.pb + d.dh * (d.kh - 1) + d.oph + 1 < 1) d.pt = d.pb = 0;
    while ((d.w - 1) * d.sw - d.pl - d.pr + d.dw * (d.kw - 1) + d.opw + 1 < 1) d.pl = d.pr = 0;
    test_deconv(d);
  }
  for (int i = 0; i < 12; ++i) {
    GemmCase t{};
    t.m = pick(1, 40); t.n = pick(1, 70); t.k = pick(0, 300);
    t.lda_pad = pick(0, 3); t.ldb_pad = pick(0, 3); t.ldc_pad = pick(0, 3);
    t.bias = pick(0, 1); t.relu = pick(0, 1);
    t.nan = pick(0, 4) == 0;
    t.note = "random";
    test_gemm(t);
  }
}

// ---- bf16 (precision 'bf16') ---------------------------------------------------------------
//
// Each bf16 plan against two twins: the bf16 one (the same rounding of both operands, only the
// order of the fp32 sums differs: tight) and the fp32 one (bfloat16's 8-bit mantissa: loose).
constexpr double kTolBf16Twin = 5e-5, kTolBf16VsF32 = 2e-2;

std::vector<Isa> bf16_isas() {
  std::vector<Isa> out{Isa::kRef};
  if (cpu_features().avx512_bf16) out.push_back(Isa::kAvx512);
  return out;
}

void test_conv_bf16(const ConvCase& k) {
  Conv2dParams p;
  p.n = k.n; p.in_c = k.c; p.in_h = k.h; p.in_w = k.w; p.out_c = k.oc; p.k_h = k.kh; p.k_w = k.kw;
  p.stride_h = k.sh; p.stride_w = k.sw; p.dil_h = k.dh; p.dil_w = k.dw;
  p.pad_t = k.pt; p.pad_l = k.pl; p.pad_b = k.pb; p.pad_r = k.pr; p.groups = k.g; p.relu = k.relu;
  const std::string what = "bf16 conv2d " + describe(k);
  set_current("setting up " + what);
  if (!conv_out_size(p.in_h, p.k_h, p.stride_h, p.dil_h, p.pad_t, p.pad_b, &p.out_h).ok() ||
      !conv_out_size(p.in_w, p.k_w, p.stride_w, p.dil_w, p.pad_l, p.pad_r, &p.out_w).ok()) {
    report(false, what, "bad test case");
    return;
  }
  const size_t xn = size_t(p.n * p.in_c * p.in_h * p.in_w);
  const size_t wn = size_t(p.out_c * (p.in_c / p.groups) * p.k_h * p.k_w);
  const size_t yn = size_t(p.n * p.out_c * p.out_h * p.out_w);
  GuardedBuffer x(xn), w(wn), b(size_t(p.out_c));
  fill_random(x.f32(), xn);
  fill_random(w.f32(), wn);
  fill_random(b.f32(), size_t(p.out_c));
  if (k.nan) x.f32()[xn / 2] = std::nanf("");
  const float* bias = k.bias ? b.f32() : nullptr;
  std::vector<float> ref16(yn), ref32(yn);
  set_current("reference twins for " + what);
  bf16_conv2d__ref(p, x.f32(), w.f32(), bias, ref16.data());
  f32_conv2d__ref(p, x.f32(), w.f32(), bias, ref32.data());
  const bool depthwise = p.groups == p.in_c && p.groups == p.out_c;
  for (Isa isa : bf16_isas()) {
    const std::string tag = std::string(isa_name(isa)) + " " + what;
    set_current(tag);
    if (depthwise) {
      const bool kept = !bf16_conv_applies(p);
      report(kept, tag, kept ? "fp32 kept" : "a depthwise layer would run in bf16");
      continue;
    }
    std::unique_ptr<Conv2dPlan> plan;
    const Status made = make_conv2d_plan_bf16(isa, p, &plan);
    if (!made.ok() || !plan) {
      report(false, tag, "no plan: " + made.message());
      continue;
    }
    const char* want = isa == Isa::kRef ? "__ref" : "__avx512bf16";
    if (!std::strstr(plan->name(), want)) {
      report(false, tag, std::string("plan ") + plan->name() + " is not the " + want + " one");
      continue;
    }
    AlignedBuffer packed;
    if (!packed.allocate(plan->packed_weight_floats() * sizeof(float) + 64)) {
      report(false, tag, "out of memory");
      continue;
    }
    plan->pack_weights(w.f32(), packed.f32());
    std::vector<float> y;
    std::string why;
    const bool same = run_both(*plan, yn, [&](const RunControl& rc, float* out, void* ws) {
      plan->run(x.f32(), packed.f32(), bias, out, ws, rc);
    }, &y, &why);
    const Compare c16 = compare(y.data(), ref16.data(), yn), c32 = compare(y.data(), ref32.data(), yn);
    // Winograd rounds its transformed operands, not w and x: bf16-level against both twins.
    const double tol16 = std::strstr(plan->name(), "winograd") ? kTolBf16VsF32 : kTolBf16Twin;
    const bool ok = same && c16.err <= tol16 && c16.nan_mismatch == 0 &&
                    c32.err <= kTolBf16VsF32 && c32.nan_mismatch == 0;
    report(ok, tag, std::string("[") + plan->name() + "] vs bf16 twin " + fmt_err(c16) +
                        ", vs fp32 twin " + fmt_err(c32) + (same ? "" : " " + why));
  }
}

void test_gemm_bf16(const GemmCase& t) {
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "bf16 gemm m%" PRId64 " n%" PRId64 " k%" PRId64 " lda+%" PRId64 " ldb+%" PRId64
                " ldc+%" PRId64 "%s%s%s (%s)",
                t.m, t.n, t.k, t.lda_pad, t.ldb_pad, t.ldc_pad, t.bias ? " bias" : "",
                t.relu ? " relu" : "", t.nan ? " nan" : "", t.note);
  const std::string what = buf;
  set_current("setting up " + what);
  const int64_t lda = t.k + t.lda_pad, ldb = t.n + t.ldb_pad, ldc = t.n + t.ldc_pad;
  const size_t an = size_t(t.m * lda), bn = size_t(t.k * ldb), cn = size_t(t.m * ldc);
  GuardedBuffer a(an + 1), b(bn + 1), bias(size_t(t.m) + 1);
  fill_random(a.f32(), an);
  fill_random(b.f32(), bn);
  fill_random(bias.f32(), size_t(t.m));
  if (t.nan) b.f32()[bn / 2] = std::nanf("");
  std::vector<float> ref16(cn, 0.f), ref32(cn, 0.f);
  set_current("reference twins for " + what);
  bf16_gemm__ref(t.m, t.n, t.k, a.f32(), lda, b.f32(), ldb, ref16.data(), ldc);
  f32_gemm__ref(t.m, t.n, t.k, a.f32(), lda, b.f32(), ldb, ref32.data(), ldc);
  for (std::vector<float>* ref : {&ref16, &ref32})
    for (int64_t i = 0; i < t.m; ++i)
      for (int64_t j = 0; j < ldc; ++j) {
        float& r = (*ref)[i * ldc + j];
        const float v = r + (t.bias ? bias.f32()[i] : 0.f);
        r = j >= t.n ? 0.f : t.relu && v < 0.f ? 0.f : v;
      }
  for (Isa isa : bf16_isas()) {
    const std::string tag = std::string(isa_name(isa)) + " " + what;
    set_current(tag);
    std::unique_ptr<GemmPlan> plan;
    if (!make_gemm_plan_bf16(isa, t.m, t.n, t.k, &plan).ok()) plan = nullptr;
    const char* want = isa == Isa::kRef ? "__ref" : "__avx512bf16";
    if (!plan || !std::strstr(plan->name(), want)) {
      report(false, tag, plan ? std::string("plan ") + plan->name() + " is not the " + want + " one" : "no plan");
      continue;
    }
    AlignedBuffer packed;
    if (!packed.allocate(plan->packed_a_floats() * sizeof(float) + 64)) {
      report(false, tag, "out of memory");
      continue;
    }
    plan->pack_a(a.f32(), lda, packed.f32());
    std::vector<float> y;
    std::string why;
    const bool same = run_both(*plan, cn, [&](const RunControl& rc, float* out, void* ws) {
      plan->run(packed.f32(), b.f32(), ldb, t.bias ? bias.f32() : nullptr, t.relu, out, ldc, ws, rc);
      for (int64_t i = 0; i < t.m; ++i)
        for (int64_t j = t.n; j < ldc; ++j) out[i * ldc + j] = out[i * ldc + j] != 1e30f ? std::nanf("") : 0.f;
    }, &y, &why);
    const Compare c16 = compare(y.data(), ref16.data(), cn), c32 = compare(y.data(), ref32.data(), cn);
    // With a few products, one output can cancel to near 0 and make the fp32 comparison's
    // normalised error meaningless: it is checked from K = 16 up.
    const bool ok = same && c16.err <= kTolBf16Twin && c16.nan_mismatch == 0 &&
                    (t.k < 16 || c32.err <= kTolBf16VsF32) && c32.nan_mismatch == 0;
    report(ok, tag, std::string("[") + plan->name() + "] vs bf16 twin " + fmt_err(c16) +
                        ", vs fp32 twin " + fmt_err(c32) + (same ? "" : " " + why));
  }
}

// Rounding: the scalar twin against hand-computed bfloat16 values.
void test_bf16_rounding() {
  struct Case { float in, out; } cases[] = {
      {1.0f, 1.0f}, {1.00390625f, 1.0f} /* tie 1 + 2^-8: to even */, {1.01171875f, 1.015625f} /* tie: up to even */,
      {1.0039064f, 1.0078125f} /* just above the tie */, {-2.5f, -2.5f}, {3.4028235e38f, INFINITY},
      {1e-40f, 0.f} /* denormal: zero */, {65504.f, 65536.f},
  };
  bool ok = true;
  std::string detail;
  for (const Case& c : cases) {
    const float got = bf16_round(c.in);
    if (got != c.out) {
      ok = false;
      char b[96];
      std::snprintf(b, sizeof b, " %.9g -> %.9g (want %.9g)", double(c.in), double(got), double(c.out));
      detail += b;
    }
  }
  if (!std::isnan(bf16_round(std::nanf("")))) {
    ok = false;
    detail += " NaN not kept";
  }
  report(ok, "bf16 rounding (nearest even, denormals to zero, NaN kept)", detail);
}

void run_bf16() {
  test_bf16_rounding();
  // n, c, h, w, oc, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, g, bias, relu, note [, nan]
  const ConvCase convs[] = {
      {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, true, false, "all sizes 1 (depthwise by its shape: fp32)"},
      {1, 3, 7, 7, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, true, "3x3 tiny, K = 27 odd, bias+relu"},
      {1, 17, 13, 13, 31, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, false, false, "primes, M and N tails"},
      {2, 16, 31, 17, 13, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, true, false, "batch 2, stride 2"},
      {1, 7, 17, 13, 3, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1, true, true, "dilation 2"},
      {1, 5, 19, 23, 7, 3, 3, 2, 1, 2, 3, 1, 0, 2, 3, 1, true, false, "mixed stride/dilation/pads"},
      {1, 8, 13, 11, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, true, false, "groups 2"},
      {1, 9, 7, 9, 12, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3, true, true, "groups 3, stride 2, K = 27 per group"},
      {1, 32, 17, 19, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 32, true, true, "depthwise: stays fp32"},
      {1, 3, 5, 4, 7, 3, 3, 1, 1, 1, 1, 4, 5, 3, 6, 1, true, false, "padding wider than the kernel"},
      {1, 67, 13, 17, 45, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, true, false, "1x1 s1 (pointwise), K = 67 odd"},
      {1, 20, 13, 13, 33, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1, true, true, "1x1 stride 2"},
      {1, 5, 7, 7, 9, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, false, false, "1x1 with padding"},
      {1, 1031, 5, 7, 17, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, true, false, "1x1, K = 1031: 2 K blocks, odd"},
      {1, 3, 31, 29, 17, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, 1, true, true, "7x7 stem, K = 147"},
      {1, 64, 9, 9, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, false, "K = 576"},
      {1, 131, 9, 11, 29, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, true, "K = 1179: 2 K blocks, odd"},
      {1, 4, 40, 41, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, true, "N = 1640, several N blocks"},
      {1, 16, 8, 8, 100, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, false, "M = 100, split across threads"},
      {1, 64, 64, 65, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, true, "3x3 64ch at 64x65 (Winograd)"},
      {2, 67, 67, 67, 71, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, false, "Winograd, odd channels, batch 2"},
      {1, 2, 7, 7, 3, 11, 11, 1, 1, 1, 1, 5, 5, 5, 5, 1, true, false, "11x11 on 7x7"},
      {1, 6, 4, 50, 5, 1, 3, 1, 1, 1, 1, 0, 1, 0, 1, 1, false, true, "1x3, no bias, relu"},
      {1, 8, 9, 9, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, false, "NaN input", true},
  };
  for (const ConvCase& c : convs) test_conv_bf16(c);
  // m, n, k, lda+, ldb+, ldc+, bias, relu, note [, nan]
  const GemmCase gemms[] = {
      {1, 1, 1, 0, 0, 0, true, false, "all 1"},
      {7, 13, 17, 0, 0, 0, true, true, "primes, K odd"},
      {13, 31, 3, 2, 1, 5, false, false, "leading dimensions padded"},
      {14, 32, 257, 0, 0, 0, true, false, "one tile, K tail"},
      {100, 37, 600, 3, 0, 1, true, true, "N tail"},
      {20, 45, 2049, 1, 2, 0, true, true, "K = 2049: 3 K blocks, odd"},
      {31, 700, 5, 0, 0, 0, false, false, "N blocks"},
      {3, 1, 1000, 0, 0, 0, true, false, "N = 1"},
      {5, 9, 0, 0, 0, 0, true, true, "K = 0"},
      {9, 21, 30, 0, 0, 0, true, true, "NaN in B", true},
  };
  for (const GemmCase& c : gemms) test_gemm_bf16(c);
}

// ---- the sweep -----------------------------------------------------------------------------

void run_all() {
  // n, c, h, w, oc, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, g, bias, relu, note [, nan]
  const ConvCase convs[] = {
      {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, true, false, "all sizes 1"},
      {1, 3, 7, 7, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, true, "3x3 tiny, bias+relu"},
      {1, 17, 13, 13, 31, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, false, false, "primes, M and N tails"},
      {2, 16, 31, 17, 13, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, true, false, "batch 2, stride 2"},
      {1, 7, 17, 13, 3, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1, true, true, "dilation 2"},
      {1, 5, 19, 23, 7, 3, 3, 2, 1, 2, 3, 1, 0, 2, 3, 1, true, false, "mixed stride/dilation/pads"},
      {1, 8, 13, 11, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, true, false, "groups 2"},
      {1, 9, 7, 9, 12, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3, true, true, "groups 3, stride 2"},
      {1, 32, 17, 19, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 32, true, true, "depthwise 3x3"},
      {2, 13, 15, 37, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 13, false, false, "depthwise, batch 2"},
      {1, 6, 1, 1, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 6, true, false, "depthwise 1x1 image"},
      {1, 6, 5, 3, 6, 3, 3, 1, 1, 1, 1, 2, 3, 1, 4, 6, true, false, "depthwise, pads wider than kernel"},
      {1, 8, 6, 17, 8, 3, 3, 1, 1, 1, 1, 1, 0, 1, 2, 8, true, false, "depthwise, right pad 2, width 17"},
      {1, 4, 5, 33, 4, 3, 3, 1, 1, 1, 1, 0, 2, 2, 0, 4, true, false, "depthwise, left pad 2, width 33"},
      {1, 13, 15, 15, 13, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 13, true, true, "depthwise stride 2 (GEMM path)"},
      {1, 8, 14, 21, 8, 3, 3, 2, 1, 1, 1, 0, 1, 1, 1, 8, true, false, "depthwise stride_h 2"},
      {1, 5, 13, 13, 5, 5, 5, 1, 1, 2, 2, 4, 4, 4, 4, 5, true, false, "depthwise 5x5 dilation 2"},
      {1, 4, 9, 9, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4, true, false, "channel multiplier 2"},
      {1, 3, 5, 4, 7, 3, 3, 1, 1, 1, 1, 4, 5, 3, 6, 1, true, false, "padding wider than the kernel"},
      {1, 67, 13, 17, 45, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, true, false, "1x1 s1 (pointwise path)"},
      {1, 20, 13, 13, 33, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1, true, true, "1x1 stride 2"},
      {1, 5, 7, 7, 9, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, false, false, "1x1 with padding"},
      {1, 600, 5, 7, 17, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, true, false, "1x1, K = 600 (3 K blocks at KC 256)"},
      {1, 3, 31, 29, 17, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, 1, true, true, "7x7 stem"},
      {1, 19, 9, 9, 37, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, false, "channels not a multiple of 16"},
      {1, 8, 16, 16, 12, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 1, true, false, "asymmetric SAME padding"},
      {1, 64, 9, 9, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, false, "K = 576 (3 K blocks at KC 256)"},
      {1, 4, 40, 41, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, true, "N = 1640, several N blocks"},
      {1, 16, 8, 8, 100, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, false, "M = 100, split across threads"},
      {1, 2, 7, 7, 3, 11, 11, 1, 1, 1, 1, 5, 5, 5, 5, 1, true, false, "11x11 on 7x7"},
      {1, 6, 4, 50, 5, 1, 3, 1, 1, 1, 1, 0, 1, 0, 1, 1, false, true, "1x3, no bias, relu"},
      {1, 64, 64, 63, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, true, "3x3 64ch at 64x63 (direct: under Winograd's 4096 pixels)"},
      {1, 5, 9, 11, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, true, "NaN input, im2col", true},
      {1, 9, 9, 11, 7, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, true, true, "NaN input, pointwise", true},
      {1, 9, 9, 11, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 9, true, true, "NaN input, depthwise", true},
      {1, 1100, 3, 5, 9, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, true, false, "1x1, K = 1100: K blocks at every KC"},
      {1, 120, 9, 7, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, true, true, "im2col, K = 1080: K blocks at every KC"},
      // The direct path (stride_w 1, output rows of 16, 31, 32, 48, 63, 64 pixels tile well at
      // both NR = 16 and NR = 32): tails, padding, dilation, groups, bands, K blocks.
      {1, 5, 32, 32, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, true, "direct 3x3, ow 32"},
      {1, 4, 9, 31, 17, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, false, "direct, ow 31: partial last tile, M tail"},
      {1, 3, 5, 16, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, false, false, "direct (NR 16), ow 16"},
      {2, 6, 20, 32, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, false, "direct, batch 2, last band short"},
      {1, 5, 13, 32, 4, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1, true, true, "direct, dilation 2"},
      {1, 3, 11, 36, 6, 3, 3, 1, 1, 2, 3, 1, 0, 2, 2, 1, true, false, "direct, dilation (2,3), asymmetric pads"},
      {1, 4, 17, 32, 6, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1, 1, true, false, "direct, stride_h 2"},
      {1, 5, 6, 25, 3, 3, 3, 1, 1, 1, 1, 3, 4, 2, 5, 1, true, false, "direct, padding wider than the kernel"},
      {1, 3, 4, 26, 3, 3, 3, 1, 1, 1, 1, 0, 0, 5, 8, 1, true, false, "direct, pads only bottom/right"},
      {1, 6, 9, 32, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, true, true, "direct, groups 2"},
      {1, 9, 6, 64, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3, false, false, "direct, groups 3, ow 64"},
      {1, 7, 5, 30, 9, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, false, "direct 1x1 with padding (runtime taps)"},
      {1, 4, 9, 32, 5, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1, true, true, "direct 5x5 (runtime taps)"},
      {1, 3, 7, 64, 4, 1, 7, 1, 1, 1, 1, 0, 3, 0, 3, 1, true, false, "direct 1x7"},
      {1, 2, 40, 64, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, false, "direct, several bands"},
      {1, 8, 16, 32, 100, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, true, "direct, M = 100 split across threads"},
      {1, 6, 8, 32, 128, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, false, "direct, M = 128: balanced panels"},
      {1, 260, 4, 32, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, true, "direct, K = 2340: 2 K blocks"},
      {1, 70, 3, 1024, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, false, "direct, wide rows: band-capped K blocks"},
      {1, 5, 9, 32, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, true, "NaN input, direct", true},
      {1, 2, 20, 21, 3, 17, 17, 1, 1, 1, 1, 8, 8, 8, 8, 1, true, false, "17x17: more taps than a K block"},
      {1, 1, 300, 1, 2, 290, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, true, false, "290x1 kernel, one column out"},
      {1, 3, 6, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 200, 1, true, true, "right pad 200: a wide output row"},
      {1, 3, 40, 9, 5, 3, 3, 1, 1, 9, 1, 9, 1, 9, 1, 1, true, false, "dilation 9 down the rows"},
  };
  for (const ConvCase& c : convs) test_conv(c);
  // The same with a scratch bound small enough that every convolution is tiled: 1 byte (no
  // direct band, one-panel column blocks, a one-tap table and K blocks of one row) and 16 KiB
  // (bands of a few channels or im2col, narrow column blocks, windowed tap tables). Each against
  // the reference twin, 1 and 2 threads bit for bit.
  for (size_t scratch : {size_t(1), size_t(16) << 10})
    for (const ConvCase& c : convs) test_conv(c, ConvAlgo::kAuto, nullptr, scratch);
  // The Winograd F(2x2, 3x3) path, forced (by default it takes only layers with >= 64 channels
  // each side and >= 64 x 64 output pixels): odd output sizes (half tiles), padding of every shape,
  // batches, K blocks at every KC, M tails, NaN; and that the default picks it for a big layer.
  const ConvCase winograds[] = {
      {1, 16, 9, 11, 30, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, true, "odd output, M tail"},
      {2, 20, 8, 8, 15, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 1, true, false, "valid, batch 2"},
      {1, 8, 5, 7, 17, 3, 3, 1, 1, 1, 1, 2, 0, 1, 3, 1, false, false, "asymmetric pads"},
      {1, 1100, 6, 5, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, true, "K = 1100: K blocks at every KC"},
      {1, 6, 3, 140, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, false, "3 rows (half a tile row), many blocks"},
      {1, 5, 70, 1, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, true, "one column: half tiles everywhere"},
      {1, 1, 2, 2, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, true, "one channel, 2x2"},
      {1, 9, 7, 9, 11, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, true, "NaN input", true},
  };
  for (const ConvCase& c : winograds) test_conv(c, ConvAlgo::kWinograd);
  test_conv({1, 128, 64, 64, 256, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, true, "winograd by default: 128->256 at 64x64"},
            ConvAlgo::kAuto, "winograd");

  // n, c, h, w, oc, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, oph, opw, g, bias, relu, note [, nan]
  const DeconvCase deconvs[] = {
      {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, true, false, "all sizes 1"},
      {1, 16, 7, 5, 8, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 0, 0, 1, true, false, "k2s2 U-Net up"},
      {1, 40, 4, 4, 24, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 0, 0, 1, true, true, "k2s2 wider"},
      {1, 21, 5, 6, 21, 4, 4, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0, 1, false, false, "k4s2 p1 FCN upscore2"},
      {1, 6, 5, 5, 7, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, false, "k3s2 p1 output padding 1"},
      {1, 21, 3, 4, 21, 16, 16, 8, 8, 1, 1, 4, 4, 4, 4, 0, 0, 1, false, false, "k16s8 p4 FCN-8s"},
      {1, 21, 6, 6, 21, 16, 16, 8, 8, 1, 1, 0, 0, 0, 0, 0, 0, 1, true, false, "k16s8 21ch"},
      {1, 3, 3, 2, 5, 64, 64, 32, 32, 1, 1, 16, 16, 16, 16, 0, 0, 1, true, false, "k64s32 p16"},
      {1, 4, 2, 2, 3, 64, 64, 32, 32, 1, 1, 0, 0, 0, 0, 0, 0, 1, false, false, "k64s32 FCN-32s"},
      {1, 8, 5, 5, 6, 4, 4, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0, 2, true, false, "groups 2"},
      {1, 6, 5, 5, 6, 4, 4, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0, 6, true, false, "depthwise (bilinear-style)"},
      {1, 9, 4, 3, 6, 3, 3, 2, 1, 1, 1, 1, 0, 0, 1, 0, 0, 3, false, true, "groups 3, mixed strides"},
      {1, 5, 4, 5, 3, 3, 3, 1, 1, 2, 2, 1, 1, 1, 1, 0, 0, 1, true, false, "dilation 2"},
      {1, 4, 6, 7, 5, 3, 5, 2, 3, 2, 1, 2, 0, 1, 3, 1, 2, 1, true, false, "dilation, odd strides, out pad"},
      {2, 7, 6, 5, 9, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, true, "batch 2, relu"},
      {1, 300, 3, 3, 5, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 0, 0, 1, true, false, "K = 300 (2 K blocks at KC 256)"},
      {1, 5, 4, 4, 3, 4, 4, 2, 2, 1, 1, 3, 3, 3, 3, 0, 0, 1, true, false, "padding k-1"},
      {1, 5, 4, 4, 3, 4, 4, 2, 2, 1, 1, 0, 2, 1, 0, 0, 0, 1, true, false, "asymmetric padding"},
      {1, 3, 17, 13, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, true, false, "stride 1, prime sizes"},
      {1, 33, 5, 5, 70, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 0, 0, 1, true, false, "several tasks per group"},
      {1, 2, 12, 11, 3, 64, 64, 32, 32, 1, 1, 16, 16, 16, 16, 0, 0, 1, true, true, "k64s32 p16 relu, banded"},
      {1, 3, 16, 17, 2, 4, 4, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0, 1, true, true, "k4s2 relu, several pixel blocks"},
      {1, 3, 9, 10, 4, 16, 16, 8, 8, 1, 1, 4, 3, 4, 1, 0, 0, 1, true, true, "k16s8, vector 1 past the right edge"},
      {1, 3, 7, 6, 4, 16, 16, 8, 8, 1, 1, 3, 1, 2, 4, 0, 0, 1, true, false, "k16s8, vector 1 before the left edge"},
      {2, 3, 6, 5, 2, 8, 8, 4, 4, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, true, "k8s4 output padding"},
      {1, 4, 5, 6, 3, 4, 4, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0, 1, true, true, "NaN input", true},
      {1, 4, 5, 6, 3, 16, 16, 8, 8, 1, 1, 4, 4, 4, 4, 0, 0, 1, true, true, "NaN input, k16s8", true},
      // Kernels narrower than a vector (the short-run scatter): whole vectors inside the output,
      // masked ones at its edges, column groups cut by a column block (kw 3, 32+ channels).
      {1, 21, 32, 32, 21, 4, 4, 2, 2, 1, 1, 0, 0, 0, 0, 0, 0, 1, true, false, "k4s2 21ch at 32x32 (FCN upscore)"},
      {1, 5, 9, 17, 6, 4, 4, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0, 1, true, true, "k4s2 p1, wide enough for whole vectors"},
      {1, 3, 8, 12, 40, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, false, "k3s2, groups cut by a column block"},
      {1, 4, 6, 13, 5, 5, 5, 3, 3, 1, 1, 2, 2, 2, 2, 0, 0, 1, true, false, "k5s3, wider run vector"},
      {1, 3, 5, 11, 4, 2, 7, 1, 2, 1, 1, 0, 3, 1, 2, 0, 1, 1, true, true, "k2x7, stride (1,2)"},
      {1, 6, 7, 9, 4, 4, 4, 2, 2, 1, 1, 0, 0, 0, 0, 0, 0, 2, false, false, "k4s2 groups 2"},
      {1, 1030, 3, 3, 3, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 0, 0, 1, true, false, "k2s2, K = 1030: K blocks at every KC"},
      {1, 4, 6, 20, 3, 4, 4, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0, 1, true, true, "NaN input, k4s2 whole vectors", true},
  };
  for (const DeconvCase& c : deconvs) test_deconv(c);

  // m, n, k, lda+, ldb+, ldc+, bias, relu, note [, nan]
  const GemmCase gemms[] = {
      {1, 1, 1, 0, 0, 0, true, false, "all 1"},
      {7, 13, 17, 0, 0, 0, true, true, "primes"},
      {13, 31, 3, 2, 1, 5, false, false, "leading dimensions padded"},
      {6, 16, 256, 0, 0, 0, true, false, "one AVX2 tile"},
      {14, 32, 257, 0, 0, 0, true, false, "one AVX-512 tile, K tail"},
      {100, 37, 600, 3, 0, 1, true, true, "K blocks at KC 256, N tail"},
      {20, 45, 2100, 1, 2, 0, true, true, "K = 2100: K blocks at every KC"},
      {31, 700, 5, 0, 0, 0, false, false, "N blocks"},
      {3, 1, 1000, 0, 0, 0, true, false, "N = 1"},
      {5, 9, 0, 0, 0, 0, true, true, "K = 0"},
      {9, 21, 30, 0, 0, 0, true, true, "NaN in B", true},
  };
  for (const GemmCase& c : gemms) test_gemm(c);

  random_sweep();
  test_abort();
  run_bf16();
}

}  // namespace
}  // namespace fcn

int main(int argc, char** argv) {
  uint64_t seed;
  if (argc > 1) {
    seed = std::strtoull(argv[1], nullptr, 0);
  } else {
    seed = std::random_device{}() ^
           uint64_t(std::chrono::high_resolution_clock::now().time_since_epoch().count());
  }
  std::printf("kernel_test: seed %" PRIu64 " (replay: %s %" PRIu64 ")\n", seed, argv[0], seed);
  fcn::g_rng.seed(seed);
#ifdef FCN_ASAN
  // Under AddressSanitizer (scripts/sanitize.sh) its own handler reports a fault on a guard page,
  // with a stack trace; this names the case before the report ends the program.
  __sanitizer_set_death_callback([] { std::fprintf(stderr, "kernel_test: died in %s\n", fcn::g_current); });
#else
  signal(SIGSEGV, fcn::on_fault);
  signal(SIGBUS, fcn::on_fault);
#endif
  const auto t0 = std::chrono::steady_clock::now();
  try {
    fcn::run_all();
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "kernel_test: out of memory in %s\n", fcn::g_current);
    return 2;
  }
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("kernel_test: took %.1f s\n", sec);
  std::printf("kernel_test: %d passed, %d failed\n", fcn::g_passed, fcn::g_failed);
  return fcn::g_failed == 0 ? 0 : 1;
}
