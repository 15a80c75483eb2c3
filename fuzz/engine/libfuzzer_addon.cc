// A Node addon that hands a JS function to libFuzzer (LLVM's libclang_rt.fuzzer_no_main, as
// Debian's libclang-rt-*-dev ships it) as its fuzz target, with coverage from the JS side:
// fuzz/instrument.js rewrites the code under test to bump counters in `counters` (one byte per
// branch and function), which this addon registers with libFuzzer as an inline 8-bit counter
// region, as clang's -fsanitize-coverage=inline-8bit-counters would for native code.
//
//   const engine = require('build-fuzz/fuzz_engine.node');
//   engine.counters            Uint8Array(kCounters), shared with libFuzzer
//   engine.run(argv, used, fn) runs libFuzzer with argv (libFuzzer flags and corpus folders);
//                              fn(Buffer) is called once per input; `used` is how many counters
//                              the instrumented code has. Does not return: libFuzzer exits.
//                              An exception fn throws is a finding: printed, then abort(), which
//                              libFuzzer turns into a crash-<sha1> artifact.
// Built by scripts/fuzz.js with clang++ (not part of the package or of the addon build).
#include <node_api.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
int LLVMFuzzerRunDriver(int* argc, char*** argv, int (*cb)(const uint8_t* data, size_t size));
void __sanitizer_cov_8bit_counters_init(uint8_t* start, uint8_t* stop);
void __sanitizer_cov_pcs_init(const uintptr_t* pcs_beg, const uintptr_t* pcs_end);
}

namespace {

constexpr size_t kCounters = size_t(1) << 20;
alignas(64) uint8_t g_counters[kCounters];
// libFuzzer's PC table: (pseudo PC, flags) per counter; only used for its "cov:" statistic.
std::vector<uintptr_t> g_pcs;

napi_env g_env = nullptr;
napi_ref g_fn = nullptr;

#define CHECK(call)                                              \
  do {                                                           \
    if ((call) != napi_ok) {                                     \
      std::fprintf(stderr, "fuzz_engine: %s failed\n", #call);   \
      std::abort();                                              \
    }                                                            \
  } while (0)

void report_and_abort(napi_env env) {
  napi_value exc, str;
  CHECK(napi_get_and_clear_last_exception(env, &exc));
  napi_value stack;
  bool has = false;
  if (napi_has_named_property(env, exc, "stack", &has) == napi_ok && has &&
      napi_get_named_property(env, exc, "stack", &stack) == napi_ok && napi_coerce_to_string(env, stack, &str) == napi_ok) {
  } else {
    CHECK(napi_coerce_to_string(env, exc, &str));
  }
  size_t len = 0;
  napi_get_value_string_utf8(env, str, nullptr, 0, &len);
  std::string text(len, '\0');
  napi_get_value_string_utf8(env, str, &text[0], len + 1, &len);
  std::fprintf(stderr, "\n==fuzz finding== %s\n", text.c_str());
  std::fflush(stderr);
  std::abort();
}

int one_input(const uint8_t* data, size_t size) {
  napi_handle_scope scope;
  CHECK(napi_open_handle_scope(g_env, &scope));
  napi_value fn, global, buf, result;
  CHECK(napi_get_reference_value(g_env, g_fn, &fn));
  CHECK(napi_get_global(g_env, &global));
  void* copy = nullptr;
  CHECK(napi_create_buffer_copy(g_env, size, size ? data : reinterpret_cast<const uint8_t*>(""), &copy, &buf));
  napi_status st = napi_call_function(g_env, global, fn, 1, &buf, &result);
  bool pending = false;
  napi_is_exception_pending(g_env, &pending);
  if (st != napi_ok || pending) report_and_abort(g_env);
  CHECK(napi_close_handle_scope(g_env, scope));
  return 0;
}

napi_value run(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value args[3];
  CHECK(napi_get_cb_info(env, info, &argc, args, nullptr, nullptr));
  uint32_t n = 0;
  CHECK(napi_get_array_length(env, args[0], &n));
  std::vector<std::string> strings(n + 1, "fuzz");
  for (uint32_t i = 0; i < n; ++i) {
    napi_value v;
    CHECK(napi_get_element(env, args[0], i, &v));
    size_t len = 0;
    CHECK(napi_get_value_string_utf8(env, v, nullptr, 0, &len));
    strings[i + 1].assign(len, '\0');
    CHECK(napi_get_value_string_utf8(env, v, &strings[i + 1][0], len + 1, &len));
  }
  uint32_t used = 0;
  CHECK(napi_get_value_uint32(env, args[1], &used));
  if (used == 0) used = 1;
  if (used > kCounters) used = kCounters;
  CHECK(napi_create_reference(env, args[2], 1, &g_fn));
  g_env = env;

  g_pcs.resize(2 * size_t(used));
  for (size_t i = 0; i < used; ++i) g_pcs[2 * i] = 0x1000 + i, g_pcs[2 * i + 1] = 0;
  __sanitizer_cov_8bit_counters_init(g_counters, g_counters + used);
  __sanitizer_cov_pcs_init(g_pcs.data(), g_pcs.data() + g_pcs.size());

  std::vector<char*> argv;
  for (std::string& s : strings) argv.push_back(&s[0]);
  argv.push_back(nullptr);
  int c = static_cast<int>(strings.size());
  char** v = argv.data();
  int rc = LLVMFuzzerRunDriver(&c, &v, one_input);
  std::fflush(stdout);
  std::fflush(stderr);
  std::exit(rc);
}

napi_value init(napi_env env, napi_value exports) {
  napi_value counters, ab, fn;
  CHECK(napi_create_external_arraybuffer(env, g_counters, kCounters, nullptr, nullptr, &ab));
  CHECK(napi_create_typedarray(env, napi_uint8_array, kCounters, ab, 0, &counters));
  CHECK(napi_set_named_property(env, exports, "counters", counters));
  CHECK(napi_create_function(env, "run", NAPI_AUTO_LENGTH, run, nullptr, &fn));
  CHECK(napi_set_named_property(env, exports, "run", fn));
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
