// The CUDA path of a graph (host code, part of the core): the same GraphDesc as the CPU, lowered
// to device steps.
//
// CudaModel::create (once per model):
//   - validates the graph as Graph::create does (same errors), and says UNSUPPORTED_OP for a node
//     type the device steps do not cover;
//   - fuses conv / convTranspose2d followed by its only reader relu into one node (the epilogue);
//   - builds a "shape graph": the same nodes with every constant turned into a graph input of its
//     fixed shape, so that fcn::compile() infers shapes and plans the arena exactly as the CPU
//     does, without packing CPU weights;
//   - prepares the convolution weights of the implicit GEMM (per group [k_pad][n_pad], k-major;
//     transposed convolutions per output phase, taps flipped) and uploads them and every constant
//     read as it is, once.
// CudaModel::lower (per set of input shapes): compile() the shape graph, then map its values to
//   the device (activations at the planner's offsets, inputs and outputs after them, constants in
//   the weight buffers) and each node to one or more steps (cpp/cuda/abi.h), with gather tables
//   and resize taps in the plan's blob. Host copies happen only for inputs and outputs.
// CudaPlan::run: one run (own arena, own stream on the device side); concurrent runs are safe.
#pragma once
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"
#include "cuda/abi.h"
#include "cuda/backend.h"
#include "graph/graph.h"

namespace fcn {
namespace cuda {

enum class Precision { kFp32 = FCNKIT_CUDA_FP32, kTf32 = FCNKIT_CUDA_TF32, kBf16 = FCNKIT_CUDA_BF16 };
const char* precision_name(Precision p);
// "fp32" | "tf32" | "bf16"; false for anything else.
bool parse_precision(const std::string& s, Precision* out);

// Every node type the device steps cover.
const std::vector<std::string>& supported_op_types();

// A plan ready for Api::plan_create, with the vectors behind its pointers.
struct PlanDesc {
  uint64_t arena_bytes = 0;
  uint64_t activation_bytes = 0;  // the planner's part of the arena (the rest: inputs, outputs)
  std::vector<fcnkit_cuda_value> values;
  std::vector<fcnkit_cuda_step> steps;
  std::vector<std::string> step_labels;  // "conv2d 'conv1_1'" per step
  std::vector<uint8_t> blob;
  std::vector<int32_t> input_values, output_values;
  std::vector<std::string> input_names, output_names;
  std::vector<Shape> input_shapes, output_shapes;
  std::vector<DType> input_dtypes, output_dtypes;

  fcnkit_cuda_plan_desc view(int device) const;
};

class CudaPlan;

class CudaModel : public std::enable_shared_from_this<CudaModel> {
 public:
  // The constants' data is read (prepared, uploaded) during the call only. `api` is cuda_api()
  // or emulator_api(). OUT_OF_MEMORY / CUDA_ERROR from the upload.
  static Status create(const Api* api, const GraphDesc& desc, Precision precision, int device,
                       std::shared_ptr<CudaModel>* out);
  ~CudaModel();
  CudaModel(const CudaModel&) = delete;
  CudaModel& operator=(const CudaModel&) = delete;

  // The device plan for these input shapes (errors as fcn::compile's).
  Status lower(const std::vector<Shape>& input_shapes, PlanDesc* out) const;
  // lower() and the backend's plan creation (blob upload).
  Status plan(const std::vector<Shape>& input_shapes, std::unique_ptr<CudaPlan>* out) const;

  Precision precision() const { return precision_; }
  int device() const { return device_; }
  const Api* api() const { return api_; }
  // Bytes uploaded: constants and prepared weights.
  uint64_t weight_bytes() const { return weight_bytes_; }
  const std::vector<std::string>& input_names() const { return input_names_; }
  const std::vector<std::string>& output_names() const { return output_names_; }

  struct NodeInfo {
    bool gemm = false;    // implicit GEMM (else a direct kernel)
    int prepared = -1;    // weight buffer of the prepared weight
    int64_t k = 0, k_pad = 0, n = 0, n_pad = 0;
    int64_t taps_h = 1, taps_w = 1;  // transposed convolution: taps per phase
    int64_t pad_t = 0, pad_l = 0;    // transposed convolution: its (size-independent) padding
  };

 private:
  CudaModel() = default;
  const Api* api_ = nullptr;
  Precision precision_ = Precision::kFp32;
  int device_ = 0;
  fcnkit_cuda_weights* weights_ = nullptr;
  uint64_t weight_bytes_ = 0;
  std::unique_ptr<Graph> shape_graph_;
  size_t user_inputs_ = 0;
  std::vector<Shape> constant_shapes_;
  std::vector<int> raw_buffer_;  // per constant: its weight buffer, or -1 (read only prepared)
  std::vector<NodeInfo> nodes_;  // per node of the shape graph
  std::vector<std::string> input_names_, output_names_;
};

class CudaPlan {
 public:
  ~CudaPlan();
  CudaPlan(const CudaPlan&) = delete;
  CudaPlan& operator=(const CudaPlan&) = delete;

  // inputs / outputs in the plan's order with exactly its shapes and dtypes (host memory).
  // ABORTED between steps when *abort becomes true. Safe to call concurrently.
  Status run(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
             const std::atomic<bool>* abort) const;

  const std::vector<std::string>& input_names() const { return desc_.input_names; }
  const std::vector<std::string>& output_names() const { return desc_.output_names; }
  const std::vector<Shape>& input_shapes() const { return desc_.input_shapes; }
  const std::vector<Shape>& output_shapes() const { return desc_.output_shapes; }
  const std::vector<DType>& input_dtypes() const { return desc_.input_dtypes; }
  const std::vector<DType>& output_dtypes() const { return desc_.output_dtypes; }
  // Device bytes one run allocates.
  uint64_t arena_bytes() const { return desc_.arena_bytes; }
  uint64_t blob_bytes() const { return desc_.blob.size(); }
  size_t step_count() const { return desc_.steps.size(); }
  const std::string& step_label(size_t i) const { return desc_.step_labels[i]; }
  int step_op(size_t i) const { return desc_.steps[i].op; }

 private:
  friend class CudaModel;
  CudaPlan() = default;
  std::shared_ptr<const CudaModel> model_;
  fcnkit_cuda_plan* handle_ = nullptr;
  PlanDesc desc_;  // names, shapes and step labels (the device holds its own copy of the rest)
};

// Maps a backend error to a Status (codes to fcn::Code, the failing step's label prefixed).
Status from_backend_error(const fcnkit_cuda_error& e, const std::vector<std::string>& step_labels);

}  // namespace cuda
}  // namespace fcn
