/* The C ABI between the addon and build/Release/libfcnkit_cuda.so (the CUDA backend).
 *
 * Why a C ABI: the addon must load where there is no NVIDIA driver and no CUDA runtime, so all
 * CUDA code lives in a separate shared library that the addon dlopen()s on first use (see
 * cpp/cuda/backend.cc). Everything that crosses is a plain struct or a pointer to one; the two
 * sides check FCNKIT_CUDA_ABI_VERSION before any other call, so a stale library beside a newer
 * addon is reported ("built for ABI 1, the addon speaks 2") instead of crashing. Bump the version
 * on ANY change to a struct, an enum value or a function signature below.
 *
 * The same table of functions is implemented twice: by the library (cpp/cuda/api.cu, on the GPU)
 * and by cpp/cuda/emulate.cc (plain loops on the CPU, same step semantics, used by the tests to
 * check the lowering where there is no GPU).
 *
 * Model of a run:
 *   weights   device buffers uploaded once per model (raw constants and the convolution weights
 *             prepared for the implicit GEMM, see cpp/cuda/lower.cc); shared by its plans;
 *   plan      one graph at fixed input shapes: a list of values (where each tensor lives), a list
 *             of steps (one kernel launch each), and a blob of plan constants (gather tables,
 *             resize taps) uploaded once at plan creation;
 *   run       allocates an arena of arena_bytes on a stream of its own, copies the inputs in,
 *             launches every step, copies the outputs out, frees the arena. Runs of one plan may
 *             go on concurrently from several threads.
 */
#ifndef FCNKIT_CUDA_ABI_H_
#define FCNKIT_CUDA_ABI_H_

#include <stdint.h>

#define FCNKIT_CUDA_ABI_VERSION 1

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ------------------------------------------------------------------------------ */

enum fcnkit_cuda_code {
  FCNKIT_CUDA_OK = 0,
  FCNKIT_CUDA_INVALID_ARGUMENT = 1,
  FCNKIT_CUDA_OUT_OF_MEMORY = 2, /* cudaErrorMemoryAllocation: the context survives */
  FCNKIT_CUDA_ERROR = 3,         /* any other CUDA error (a launch failure may poison the context) */
  FCNKIT_CUDA_UNAVAILABLE = 4,
  FCNKIT_CUDA_ABORTED = 5,
  FCNKIT_CUDA_TOO_LARGE = 6,
  FCNKIT_CUDA_UNSUPPORTED = 7
};

typedef struct fcnkit_cuda_error {
  int32_t code;
  int32_t step; /* the step that failed, or -1 */
  char message[1000];
} fcnkit_cuda_error;

/* ---- probe ------------------------------------------------------------------------------- */

enum fcnkit_cuda_probe_status {
  FCNKIT_CUDA_PROBE_OK = 0,
  FCNKIT_CUDA_PROBE_NO_DRIVER = 1,      /* the runtime found no libcuda.so.1 */
  FCNKIT_CUDA_PROBE_DRIVER_TOO_OLD = 2, /* cudaErrorInsufficientDriver with a driver present */
  FCNKIT_CUDA_PROBE_NO_DEVICE = 3,
  FCNKIT_CUDA_PROBE_ERROR = 4
};

#define FCNKIT_CUDA_MAX_DEVICES 16

typedef struct fcnkit_cuda_device {
  char name[256];
  int32_t major, minor; /* compute capability */
  uint64_t memory_bytes;
  int32_t multiprocessors;
  int32_t reserved;
} fcnkit_cuda_device;

typedef struct fcnkit_cuda_probe_result {
  int32_t status;          /* fcnkit_cuda_probe_status */
  int32_t driver_version;  /* cudaDriverGetVersion: 13000 = CUDA 13.0; 0 without a driver */
  int32_t runtime_version; /* the runtime linked into the library */
  int32_t device_count;    /* devices listed below (at most FCNKIT_CUDA_MAX_DEVICES) */
  fcnkit_cuda_device devices[FCNKIT_CUDA_MAX_DEVICES];
  char message[512]; /* the CUDA error's name and text when status != OK */
} fcnkit_cuda_probe_result;

/* ---- plans ------------------------------------------------------------------------------- */

enum fcnkit_cuda_precision { FCNKIT_CUDA_FP32 = 0, FCNKIT_CUDA_TF32 = 1, FCNKIT_CUDA_BF16 = 2 };

enum fcnkit_cuda_where {
  FCNKIT_CUDA_IN_ARENA = 0,  /* offset into the run's arena */
  FCNKIT_CUDA_IN_WEIGHTS = 1, /* weight buffer `weight` (+ offset) */
  FCNKIT_CUDA_IN_BLOB = 2     /* offset into the plan's uploaded blob */
};

typedef struct fcnkit_cuda_value {
  int32_t where;
  int32_t weight;
  uint64_t offset;
  uint64_t bytes;
} fcnkit_cuda_value;

enum fcnkit_cuda_op {
  FCNKIT_CUDA_OP_CONV_GEMM = 1,   /* implicit-GEMM convolution / transposed convolution by phases */
  FCNKIT_CUDA_OP_CONV_DIRECT = 2, /* direct convolution (depthwise, tiny channel counts) */
  FCNKIT_CUDA_OP_DECONV_DIRECT = 3, /* gather-form transposed convolution (dilation > 1 etc.) */
  FCNKIT_CUDA_OP_MAX_POOL = 4,
  FCNKIT_CUDA_OP_AVG_POOL = 5,
  FCNKIT_CUDA_OP_GLOBAL_AVG_POOL = 6,
  FCNKIT_CUDA_OP_UNARY = 7,
  FCNKIT_CUDA_OP_BINARY = 8,
  FCNKIT_CUDA_OP_COPY = 9, /* strided copy: crop, slice, transpose, reshape, concat pieces */
  FCNKIT_CUDA_OP_PAD = 10,
  FCNKIT_CUDA_OP_RESIZE = 11,
  FCNKIT_CUDA_OP_SOFTMAX = 12,
  FCNKIT_CUDA_OP_ARGMAX = 13
};

/* Inputs of CONV_GEMM: [x, prepared weight, gather table, bias or -1].
 *
 * The GEMM of one group g and one phase (py, px): rows m = (b, gy, gx) over batch × grid_h(py) ×
 * grid_w(px), columns n < n (output channels of the group), depth k < k (real) / k_pad (padded to
 * a multiple of 32 with zero weights and invalid table entries).
 *   A[m][k] = x[b, g*(in_c/groups) + c(k), iy, ix], 0 outside the image, where with the table
 *             entry t = table[k] = { delta = c*in_h*in_w + dy*in_w + dx, dy, dx }:
 *             iy = gy*stride_h - pad_t(py) + dy,  ix = gx*stride_w - pad_l(px) + dx;
 *   B[k][n] = weight[((phase*groups + g)*k_pad + k)*n_pad + n]  (phase = py*phases_w + px);
 *   y[b, g*n + n, y0(py) + gy*ystep, x0(px) + gx*xstep] = relu?(sum_k A*B + bias[g*n + n]).
 * Convolution: phases 1×1, grid = output size, pads as given, y0 = x0 = 0, steps 1.
 * Transposed convolution (dilation 1) by output phase: phases = stride, ystep = stride_h of the
 * deconvolution (deconv_sh), y0(py) = py, grid_h(py) = ceil((out_h - py) / deconv_sh), stride 1,
 * pad_t(py) = taps_h - 1 - floor((py + deconv_pt) / deconv_sh); see cpp/cuda/step_math.h. */
typedef struct fcnkit_cuda_gemm_params {
  int64_t batch, in_c, in_h, in_w;
  int64_t groups, k, k_pad, n, n_pad;
  int64_t stride_h, stride_w, pad_t, pad_l; /* convolution; ignored when deconv */
  int64_t out_c, out_h, out_w;
  int64_t phases_h, phases_w;
  int64_t deconv, deconv_sh, deconv_sw, deconv_pt, deconv_pl, taps_h, taps_w;
  int64_t max_rows; /* the largest batch × grid_h × grid_w over phases */
  int32_t relu, precision;
} fcnkit_cuda_gemm_params;

/* CONV_DIRECT: x [batch, in_c, in_h, in_w], w [out_c, in_c/groups, k_h, k_w], bias [out_c] or -1.
 * DECONV_DIRECT: w [in_c, out_c/groups, k_h, k_w]; y = sum over taps that reach the pixel. */
typedef struct fcnkit_cuda_conv_params {
  int64_t batch, in_c, in_h, in_w, out_c, out_h, out_w;
  int64_t k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_t, pad_l, groups;
  int32_t relu, reserved;
} fcnkit_cuda_conv_params;

/* MAX_POOL / AVG_POOL over planes = batch × channels; ceil mode is already in out_h / out_w.
 * GLOBAL_AVG_POOL uses planes and in_h × in_w. */
typedef struct fcnkit_cuda_pool_params {
  int64_t planes, in_h, in_w, out_h, out_w;
  int64_t k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_t, pad_l, pad_b, pad_r;
  int32_t count_include_pad, reserved;
} fcnkit_cuda_pool_params;

enum fcnkit_cuda_unary {
  FCNKIT_CUDA_RELU = 0,
  FCNKIT_CUDA_LEAKY_RELU = 1, /* alpha */
  FCNKIT_CUDA_SIGMOID = 2,
  FCNKIT_CUDA_HARD_SIGMOID = 3, /* alpha, beta */
  FCNKIT_CUDA_HARD_SWISH = 4,
  FCNKIT_CUDA_TANH = 5,
  FCNKIT_CUDA_CLIP = 6 /* alpha = min, beta = max */
};

typedef struct fcnkit_cuda_unary_params {
  int64_t count;
  int32_t kind, reserved;
  float alpha, beta;
} fcnkit_cuda_unary_params;

enum fcnkit_cuda_binary {
  FCNKIT_CUDA_ADD = 0,
  FCNKIT_CUDA_MUL = 1,
  FCNKIT_CUDA_SUB = 2,
  FCNKIT_CUDA_DIV = 3,
  FCNKIT_CUDA_PRELU = 4, /* a < 0 ? b * a : a */
  FCNKIT_CUDA_MAX = 5    /* b > a or b is NaN ? b : a (a NaN already in a stays) */
};

#define FCNKIT_CUDA_MAX_RANK 8

/* y (dense, dims) = a op b, each read at sum(index[d] * stride[d]) (stride 0: broadcast). */
typedef struct fcnkit_cuda_binary_params {
  int64_t count;
  int32_t kind, rank;
  int64_t dims[FCNKIT_CUDA_MAX_RANK], a_strides[FCNKIT_CUDA_MAX_RANK], b_strides[FCNKIT_CUDA_MAX_RANK];
} fcnkit_cuda_binary_params;

/* y[dst_offset + sum(i[d] * dst_strides[d])] = x[src_offset + sum(i[d] * src_strides[d])] over
 * dims, 4-byte words (float32 or int32). Strides may be negative. */
typedef struct fcnkit_cuda_copy_params {
  int64_t count;
  int32_t rank, reserved;
  int64_t src_offset, dst_offset;
  int64_t dims[FCNKIT_CUDA_MAX_RANK], src_strides[FCNKIT_CUDA_MAX_RANK], dst_strides[FCNKIT_CUDA_MAX_RANK];
} fcnkit_cuda_copy_params;

enum fcnkit_cuda_pad_mode { FCNKIT_CUDA_PAD_CONSTANT = 0, FCNKIT_CUDA_PAD_REFLECT = 1, FCNKIT_CUDA_PAD_EDGE = 2 };

/* One spatial axis of pad: the kept input range [crop, crop + keep) lands at output `before`. */
typedef struct fcnkit_cuda_pad_axis {
  int64_t in, out, crop, keep, before;
} fcnkit_cuda_pad_axis;

typedef struct fcnkit_cuda_pad_params {
  int64_t planes;
  fcnkit_cuda_pad_axis h, w;
  int32_t mode;
  float value;
} fcnkit_cuda_pad_params;

/* Inputs of RESIZE: [x, taps] with taps (blob) = out_h row taps then out_w column taps, each an
 * fcnkit_cuda_resize_tap, computed on the host exactly as cpp/ops/resize.cc does. */
typedef struct fcnkit_cuda_resize_tap {
  int64_t i0, i1;
  float w0, w1;
} fcnkit_cuda_resize_tap;

typedef struct fcnkit_cuda_resize_params {
  int64_t planes, in_h, in_w, out_h, out_w;
  int32_t nearest, copy; /* copy: same size, the input is copied */
} fcnkit_cuda_resize_params;

/* SOFTMAX / ARGMAX (int32 out) along an axis of length n with `inner` elements after it. */
typedef struct fcnkit_cuda_axis_params {
  int64_t outer, n, inner;
} fcnkit_cuda_axis_params;

typedef union fcnkit_cuda_params {
  fcnkit_cuda_gemm_params gemm;
  fcnkit_cuda_conv_params conv;
  fcnkit_cuda_pool_params pool;
  fcnkit_cuda_unary_params unary;
  fcnkit_cuda_binary_params binary;
  fcnkit_cuda_copy_params copy;
  fcnkit_cuda_pad_params pad;
  fcnkit_cuda_resize_params resize;
  fcnkit_cuda_axis_params axis;
  int64_t raw[32];
} fcnkit_cuda_params;

#define FCNKIT_CUDA_MAX_STEP_INPUTS 4

typedef struct fcnkit_cuda_step {
  int32_t op;
  int32_t n_inputs;
  int32_t inputs[FCNKIT_CUDA_MAX_STEP_INPUTS]; /* value ids; -1 for an absent optional input */
  int32_t output;
  int32_t reserved;
  fcnkit_cuda_params params;
} fcnkit_cuda_step;

typedef struct fcnkit_cuda_plan_desc {
  uint32_t abi_version; /* FCNKIT_CUDA_ABI_VERSION */
  int32_t device;
  uint64_t arena_bytes;
  const fcnkit_cuda_value* values;
  int32_t n_values;
  int32_t n_steps;
  const fcnkit_cuda_step* steps;
  const void* blob;
  uint64_t blob_bytes;
  /* Host -> device before the first step, device -> host after the last. */
  const int32_t* input_values;
  int32_t n_inputs;
  int32_t n_outputs;
  const int32_t* output_values;
} fcnkit_cuda_plan_desc;

typedef struct fcnkit_cuda_weights fcnkit_cuda_weights;
typedef struct fcnkit_cuda_plan fcnkit_cuda_plan;

/* Returns nonzero to stop a run between steps (ABORTED). */
typedef int32_t (*fcnkit_cuda_abort_fn)(void* ctx);

/* The exported functions, by name, and their types for dlsym. */
#define FCNKIT_CUDA_SYMBOL_ABI_VERSION "fcnkit_cuda_abi_version"
#define FCNKIT_CUDA_SYMBOL_PROBE "fcnkit_cuda_probe"
#define FCNKIT_CUDA_SYMBOL_WEIGHTS_CREATE "fcnkit_cuda_weights_create"
#define FCNKIT_CUDA_SYMBOL_WEIGHTS_DESTROY "fcnkit_cuda_weights_destroy"
#define FCNKIT_CUDA_SYMBOL_PLAN_CREATE "fcnkit_cuda_plan_create"
#define FCNKIT_CUDA_SYMBOL_PLAN_RUN "fcnkit_cuda_plan_run"
#define FCNKIT_CUDA_SYMBOL_PLAN_DESTROY "fcnkit_cuda_plan_destroy"

typedef int32_t (*fcnkit_cuda_abi_version_fn)(void);
typedef void (*fcnkit_cuda_probe_fn)(fcnkit_cuda_probe_result* out);
/* count buffers of bytes[i] bytes each, copied to the device now; returns NULL on error. */
typedef fcnkit_cuda_weights* (*fcnkit_cuda_weights_create_fn)(int32_t device, int32_t count, const void* const* data,
                                                               const uint64_t* bytes, fcnkit_cuda_error* err);
typedef void (*fcnkit_cuda_weights_destroy_fn)(fcnkit_cuda_weights* weights);
/* The plan keeps its own hold on the weights; desc and everything it points to may be freed
 * after the call. Returns NULL on error. */
typedef fcnkit_cuda_plan* (*fcnkit_cuda_plan_create_fn)(fcnkit_cuda_weights* weights, const fcnkit_cuda_plan_desc* desc,
                                                         fcnkit_cuda_error* err);
/* inputs[i] holds the bytes of value input_values[i]; outputs likewise. Returns a code. */
typedef int32_t (*fcnkit_cuda_plan_run_fn)(fcnkit_cuda_plan* plan, const void* const* inputs, void* const* outputs,
                                           fcnkit_cuda_abort_fn aborted, void* abort_ctx, fcnkit_cuda_error* err);
typedef void (*fcnkit_cuda_plan_destroy_fn)(fcnkit_cuda_plan* plan);

#ifdef __cplusplus
}
#endif

#endif /* FCNKIT_CUDA_ABI_H_ */
