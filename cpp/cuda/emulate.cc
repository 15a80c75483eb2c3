// The device steps on the CPU, one plain loop nest each, with the index arithmetic of
// cpp/cuda/step_math.h that the kernels use. It implements the same table of functions as
// libfcnkit_cuda.so, so a plan lowered for the GPU can run where there is none: the tests compare
// it with the CPU ops (checking the lowering: shapes, arena layout, prepared weights, gather
// tables, phases of the transposed convolutions, taps), and the GPU tests compare the kernels
// with both. 'tf32' and 'bf16' round the GEMM's operands as the tensor cores see them.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <vector>

#include "cuda/backend.h"
#include "cuda/step_math.h"

struct fcnkit_cuda_weights {
  std::shared_ptr<std::vector<std::vector<uint8_t>>> buffers;
};

struct fcnkit_cuda_plan {
  std::shared_ptr<std::vector<std::vector<uint8_t>>> weights;
  uint64_t arena_bytes = 0;
  std::vector<fcnkit_cuda_value> values;
  std::vector<fcnkit_cuda_step> steps;
  std::vector<uint8_t> blob;
  std::vector<int32_t> input_values, output_values;
};

namespace fcn {
namespace cuda {

namespace {

void set_error(fcnkit_cuda_error* err, int32_t code, int32_t step, const char* msg) {
  if (!err) return;
  err->code = code;
  err->step = step;
  std::snprintf(err->message, sizeof(err->message), "%s", msg);
}

// What the tensor cores see of an fp32 operand.
float round_tf32(float v) {  // cvt.rna.tf32.f32: nearest, ties away from zero, 10 mantissa bits
  if (!std::isfinite(v)) return v;
  uint32_t u;
  std::memcpy(&u, &v, 4);
  u = (u + 0x1000u) & 0xffffe000u;
  std::memcpy(&v, &u, 4);
  return v;
}
float round_bf16(float v) {  // cvt.rn.bf16.f32: nearest, ties to even, 7 mantissa bits
  if (std::isnan(v)) return v;
  uint32_t u;
  std::memcpy(&u, &v, 4);
  u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  std::memcpy(&v, &u, 4);
  return v;
}
float round_operand(int precision, float v) {
  return precision == FCNKIT_CUDA_TF32 ? round_tf32(v) : precision == FCNKIT_CUDA_BF16 ? round_bf16(v) : v;
}

void gemm_conv(const fcnkit_cuda_gemm_params& p, const float* x, const float* w, const GatherEntry* tab,
               const float* bias, float* y) {
  std::vector<float> a(static_cast<size_t>(p.k_pad));
  const int64_t plane = p.out_h * p.out_w;
  for (int64_t py = 0; py < p.phases_h; ++py)
    for (int64_t px = 0; px < p.phases_w; ++px) {
      const PhaseGeometry geo = phase_geometry(p, py, px);
      const int64_t rows = p.batch * geo.grid_h * geo.grid_w;
      const int64_t phase = py * p.phases_w + px;
      for (int64_t g = 0; g < p.groups; ++g) {
        const float* wg = w + (phase * p.groups + g) * p.k_pad * p.n_pad;
        for (int64_t m = 0; m < rows; ++m) {
          const RowInfo ri = row_info(p, geo, g, m);
          for (int64_t k = 0; k < p.k_pad; ++k)
            a[k] = tap_inside(ri, tab[k], p.in_h, p.in_w) ? round_operand(p.precision, x[ri.in_base + tab[k].delta]) : 0.f;
          for (int64_t n = 0; n < p.n; ++n) {
            float acc = 0.f;
            for (int64_t k = 0; k < p.k_pad; ++k) acc += a[k] * round_operand(p.precision, wg[k * p.n_pad + n]);
            float v = acc + (bias ? bias[g * p.n + n] : 0.f);
            if (p.relu) v = v < 0.f ? 0.f : v;
            y[ri.out_base + n * plane] = v;
          }
        }
      }
    }
}

void conv_direct(const fcnkit_cuda_conv_params& p, const float* x, const float* w, const float* bias, float* y) {
  const int64_t cg = p.in_c / p.groups, og = p.out_c / p.groups;
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t o = 0; o < p.out_c; ++o) {
      const int64_t g = o / og;
      for (int64_t oy = 0; oy < p.out_h; ++oy)
        for (int64_t ox = 0; ox < p.out_w; ++ox) {
          float acc = 0.f;
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t r = 0; r < p.k_h; ++r) {
              const int64_t iy = oy * p.stride_h - p.pad_t + r * p.dil_h;
              if (iy < 0 || iy >= p.in_h) continue;
              for (int64_t s = 0; s < p.k_w; ++s) {
                const int64_t ix = ox * p.stride_w - p.pad_l + s * p.dil_w;
                if (ix < 0 || ix >= p.in_w) continue;
                acc += x[((b * p.in_c + g * cg + c) * p.in_h + iy) * p.in_w + ix] * w[((o * cg + c) * p.k_h + r) * p.k_w + s];
              }
            }
          float v = acc + (bias ? bias[o] : 0.f);
          if (p.relu) v = v < 0.f ? 0.f : v;
          y[((b * p.out_c + o) * p.out_h + oy) * p.out_w + ox] = v;
        }
    }
}

void deconv_direct(const fcnkit_cuda_conv_params& p, const float* x, const float* w, const float* bias, float* y) {
  const int64_t cg = p.in_c / p.groups, og = p.out_c / p.groups;
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t o = 0; o < p.out_c; ++o) {
      const int64_t g = o / og, oo = o % og;
      for (int64_t oy = 0; oy < p.out_h; ++oy)
        for (int64_t ox = 0; ox < p.out_w; ++ox) {
          float acc = 0.f;
          for (int64_t c = g * cg; c < (g + 1) * cg; ++c)
            for (int64_t r = 0; r < p.k_h; ++r) {
              const int64_t ty = oy + p.pad_t - r * p.dil_h;
              if (ty < 0 || ty % p.stride_h != 0 || ty / p.stride_h >= p.in_h) continue;
              const int64_t iy = ty / p.stride_h;
              for (int64_t s = 0; s < p.k_w; ++s) {
                const int64_t tx = ox + p.pad_l - s * p.dil_w;
                if (tx < 0 || tx % p.stride_w != 0 || tx / p.stride_w >= p.in_w) continue;
                const int64_t ix = tx / p.stride_w;
                acc += x[((b * p.in_c + c) * p.in_h + iy) * p.in_w + ix] * w[((c * og + oo) * p.k_h + r) * p.k_w + s];
              }
            }
          float v = acc + (bias ? bias[o] : 0.f);
          if (p.relu) v = v < 0.f ? 0.f : v;
          y[((b * p.out_c + o) * p.out_h + oy) * p.out_w + ox] = v;
        }
    }
}

void pool(int op, const fcnkit_cuda_pool_params& p, const float* x, float* y) {
  const float kNegInf = -std::numeric_limits<float>::infinity();
  for (int64_t pl = 0; pl < p.planes; ++pl) {
    const float* xp = x + pl * p.in_h * p.in_w;
    for (int64_t oy = 0; oy < p.out_h; ++oy) {
      const int64_t sy = oy * p.stride_h - p.pad_t;
      int64_t hb, he, cb, ce;
      tap_range(sy, p.k_h, p.dil_h, 0, p.in_h, &hb, &he);
      tap_range(sy, p.k_h, p.dil_h, -p.pad_t, p.in_h + p.pad_b, &cb, &ce);
      const int64_t hdiv = p.count_include_pad ? ce - cb : he - hb;
      for (int64_t ox = 0; ox < p.out_w; ++ox) {
        const int64_t sx = ox * p.stride_w - p.pad_l;
        int64_t wb, we, db, de;
        tap_range(sx, p.k_w, p.dil_w, 0, p.in_w, &wb, &we);
        tap_range(sx, p.k_w, p.dil_w, -p.pad_l, p.in_w + p.pad_r, &db, &de);
        float v;
        if (op == FCNKIT_CUDA_OP_MAX_POOL) {
          v = kNegInf;
          for (int64_t r = hb; r < he; ++r)
            for (int64_t s = wb; s < we; ++s) {
              const float t = xp[(sy + r * p.dil_h) * p.in_w + sx + s * p.dil_w];
              v = (t > v || t != t) ? t : v;
            }
        } else {
          float sum = 0.f;
          for (int64_t r = hb; r < he; ++r)
            for (int64_t s = wb; s < we; ++s) sum += xp[(sy + r * p.dil_h) * p.in_w + sx + s * p.dil_w];
          const int64_t div = hdiv * (p.count_include_pad ? de - db : we - wb);
          v = div > 0 ? sum / static_cast<float>(div) : 0.f;
        }
        y[(pl * p.out_h + oy) * p.out_w + ox] = v;
      }
    }
  }
}

int32_t run_step(const fcnkit_cuda_step& s, const std::vector<void*>& ptr) {
  auto in = [&](int i) -> const float* { return s.inputs[i] < 0 ? nullptr : static_cast<const float*>(ptr[s.inputs[i]]); };
  float* y = static_cast<float*>(ptr[s.output]);
  const fcnkit_cuda_params& p = s.params;
  switch (s.op) {
    case FCNKIT_CUDA_OP_CONV_GEMM:
      gemm_conv(p.gemm, in(0), in(1), reinterpret_cast<const GatherEntry*>(in(2)), in(3), y);
      return FCNKIT_CUDA_OK;
    case FCNKIT_CUDA_OP_CONV_DIRECT: conv_direct(p.conv, in(0), in(1), in(2), y); return FCNKIT_CUDA_OK;
    case FCNKIT_CUDA_OP_DECONV_DIRECT: deconv_direct(p.conv, in(0), in(1), in(2), y); return FCNKIT_CUDA_OK;
    case FCNKIT_CUDA_OP_MAX_POOL:
    case FCNKIT_CUDA_OP_AVG_POOL: pool(s.op, p.pool, in(0), y); return FCNKIT_CUDA_OK;
    case FCNKIT_CUDA_OP_GLOBAL_AVG_POOL: {
      const int64_t plane = p.pool.in_h * p.pool.in_w;
      for (int64_t i = 0; i < p.pool.planes; ++i) {
        double t = 0.0;
        for (int64_t j = 0; j < plane; ++j) t += in(0)[i * plane + j];
        y[i] = static_cast<float>(t / static_cast<double>(plane));
      }
      return FCNKIT_CUDA_OK;
    }
    case FCNKIT_CUDA_OP_UNARY:
      for (int64_t i = 0; i < p.unary.count; ++i) y[i] = unary_apply(p.unary.kind, in(0)[i], p.unary.alpha, p.unary.beta);
      return FCNKIT_CUDA_OK;
    case FCNKIT_CUDA_OP_BINARY:
      for (int64_t i = 0; i < p.binary.count; ++i) {
        int64_t oa, ob;
        broadcast_offsets(p.binary, i, &oa, &ob);
        y[i] = binary_apply(p.binary.kind, in(0)[oa], in(1)[ob]);
      }
      return FCNKIT_CUDA_OK;
    case FCNKIT_CUDA_OP_COPY: {
      const uint32_t* src = static_cast<const uint32_t*>(ptr[s.inputs[0]]);
      uint32_t* dst = static_cast<uint32_t*>(ptr[s.output]);
      for (int64_t i = 0; i < p.copy.count; ++i) {
        int64_t a, b;
        copy_offsets(p.copy, i, &a, &b);
        dst[b] = src[a];
      }
      return FCNKIT_CUDA_OK;
    }
    case FCNKIT_CUDA_OP_PAD: {
      const fcnkit_cuda_pad_params& q = p.pad;
      for (int64_t pl = 0; pl < q.planes; ++pl)
        for (int64_t r = 0; r < q.h.out; ++r)
          for (int64_t c = 0; c < q.w.out; ++c) {
            const int64_t sr = pad_source(q.h, r, q.mode), sc = pad_source(q.w, c, q.mode);
            y[(pl * q.h.out + r) * q.w.out + c] =
                sr < 0 || sc < 0 ? q.value : in(0)[(pl * q.h.in + sr) * q.w.in + sc];
          }
      return FCNKIT_CUDA_OK;
    }
    case FCNKIT_CUDA_OP_RESIZE: {
      const fcnkit_cuda_resize_params& q = p.resize;
      const float* x = in(0);
      if (q.copy) {
        std::memcpy(y, x, static_cast<size_t>(q.planes * q.in_h * q.in_w) * sizeof(float));
        return FCNKIT_CUDA_OK;
      }
      const fcnkit_cuda_resize_tap* ty = reinterpret_cast<const fcnkit_cuda_resize_tap*>(in(1));
      const fcnkit_cuda_resize_tap* tx = ty + q.out_h;
      for (int64_t pl = 0; pl < q.planes; ++pl)
        for (int64_t r = 0; r < q.out_h; ++r) {
          const float* a = x + (pl * q.in_h + ty[r].i0) * q.in_w;
          const float* b = x + (pl * q.in_h + ty[r].i1) * q.in_w;
          float* yr = y + (pl * q.out_h + r) * q.out_w;
          for (int64_t c = 0; c < q.out_w; ++c) {
            const fcnkit_cuda_resize_tap& u = tx[c];
            yr[c] = q.nearest ? a[u.i0]
                              : ty[r].w0 * (u.w0 * a[u.i0] + u.w1 * a[u.i1]) + ty[r].w1 * (u.w0 * b[u.i0] + u.w1 * b[u.i1]);
          }
        }
      return FCNKIT_CUDA_OK;
    }
    case FCNKIT_CUDA_OP_SOFTMAX:
    case FCNKIT_CUDA_OP_ARGMAX: {
      const fcnkit_cuda_axis_params& q = p.axis;
      const float* x = in(0);
      for (int64_t o = 0; o < q.outer; ++o)
        for (int64_t j = 0; j < q.inner; ++j) {
          const float* xo = x + o * q.n * q.inner + j;
          if (s.op == FCNKIT_CUDA_OP_ARGMAX) {
            float best = xo[0];
            int32_t idx = 0;
            for (int64_t k = 1; k < q.n; ++k)
              if (xo[k * q.inner] > best) {
                best = xo[k * q.inner];
                idx = static_cast<int32_t>(k);
              }
            static_cast<int32_t*>(ptr[s.output])[o * q.inner + j] = idx;
            continue;
          }
          float m = xo[0];
          for (int64_t k = 1; k < q.n; ++k) m = xo[k * q.inner] > m ? xo[k * q.inner] : m;
          float sum = 0.f;
          float* yo = y + o * q.n * q.inner + j;
          for (int64_t k = 0; k < q.n; ++k) {
            const float e = std::exp(xo[k * q.inner] - m);
            yo[k * q.inner] = e;
            sum += e;
          }
          const float inv = 1.f / sum;
          for (int64_t k = 0; k < q.n; ++k) yo[k * q.inner] *= inv;
        }
      return FCNKIT_CUDA_OK;
    }
    default: return FCNKIT_CUDA_UNSUPPORTED;
  }
}

fcnkit_cuda_weights* emu_weights_create(int32_t device, int32_t count, const void* const* data, const uint64_t* bytes,
                                        fcnkit_cuda_error* err) {
  try {
    auto w = new fcnkit_cuda_weights();
    w->buffers = std::make_shared<std::vector<std::vector<uint8_t>>>(static_cast<size_t>(count));
    for (int32_t i = 0; i < count; ++i) {
      const uint8_t* src = static_cast<const uint8_t*>(data[i]);
      (*w->buffers)[i].assign(src, src + bytes[i]);
    }
    return w;
  } catch (const std::bad_alloc&) {
    set_error(err, FCNKIT_CUDA_OUT_OF_MEMORY, -1, "emulator: out of memory for the weights");
    return nullptr;
  }
}

void emu_weights_destroy(fcnkit_cuda_weights* w) { delete w; }

fcnkit_cuda_plan* emu_plan_create(fcnkit_cuda_weights* w, const fcnkit_cuda_plan_desc* d, fcnkit_cuda_error* err) {
  if (!w || !d || d->abi_version != FCNKIT_CUDA_ABI_VERSION) {
    set_error(err, FCNKIT_CUDA_INVALID_ARGUMENT, -1, "emulator: bad plan description");
    return nullptr;
  }
  try {
    auto p = new fcnkit_cuda_plan();
    p->weights = w->buffers;
    p->arena_bytes = d->arena_bytes;
    p->values.assign(d->values, d->values + d->n_values);
    p->steps.assign(d->steps, d->steps + d->n_steps);
    const uint8_t* blob = static_cast<const uint8_t*>(d->blob);
    p->blob.assign(blob, blob + d->blob_bytes);
    p->input_values.assign(d->input_values, d->input_values + d->n_inputs);
    p->output_values.assign(d->output_values, d->output_values + d->n_outputs);
    return p;
  } catch (const std::bad_alloc&) {
    set_error(err, FCNKIT_CUDA_OUT_OF_MEMORY, -1, "emulator: out of memory for the plan");
    return nullptr;
  }
}

void emu_plan_destroy(fcnkit_cuda_plan* p) { delete p; }

int32_t emu_plan_run(fcnkit_cuda_plan* p, const void* const* inputs, void* const* outputs, fcnkit_cuda_abort_fn aborted,
                     void* abort_ctx, fcnkit_cuda_error* err) {
  try {
    // NaN everywhere, so that a step reading bytes no step wrote shows in the results.
    std::vector<float> arena((p->arena_bytes + 3) / 4, std::numeric_limits<float>::quiet_NaN());
    std::vector<void*> ptr(p->values.size(), nullptr);
    for (size_t i = 0; i < p->values.size(); ++i) {
      const fcnkit_cuda_value& v = p->values[i];
      uint8_t* base = nullptr;
      if (v.where == FCNKIT_CUDA_IN_ARENA) base = reinterpret_cast<uint8_t*>(arena.data());
      else if (v.where == FCNKIT_CUDA_IN_BLOB) base = p->blob.data();
      else if (v.weight >= 0) base = (*p->weights)[v.weight].data();
      if (base) ptr[i] = base + v.offset;
    }
    for (size_t i = 0; i < p->input_values.size(); ++i) {
      const fcnkit_cuda_value& v = p->values[p->input_values[i]];
      if (v.bytes) std::memcpy(ptr[p->input_values[i]], inputs[i], v.bytes);
    }
    for (size_t s = 0; s < p->steps.size(); ++s) {
      if (aborted && aborted(abort_ctx)) {
        set_error(err, FCNKIT_CUDA_ABORTED, static_cast<int32_t>(s), "aborted");
        return FCNKIT_CUDA_ABORTED;
      }
      const int32_t code = run_step(p->steps[s], ptr);
      if (code != FCNKIT_CUDA_OK) {
        set_error(err, code, static_cast<int32_t>(s), "emulator: unknown step");
        return code;
      }
    }
    for (size_t o = 0; o < p->output_values.size(); ++o) {
      const fcnkit_cuda_value& v = p->values[p->output_values[o]];
      if (v.bytes) std::memcpy(outputs[o], ptr[p->output_values[o]], v.bytes);
    }
    return FCNKIT_CUDA_OK;
  } catch (const std::bad_alloc&) {
    set_error(err, FCNKIT_CUDA_OUT_OF_MEMORY, -1, "emulator: out of memory for the arena");
    return FCNKIT_CUDA_OUT_OF_MEMORY;
  }
}

const Api kEmulator = {"emulator", emu_weights_create, emu_weights_destroy, emu_plan_create, emu_plan_run, emu_plan_destroy};

}  // namespace

const Api* emulator_api() { return &kEmulator; }

}  // namespace cuda
}  // namespace fcn
