export { Tensor, DTYPES, isTensor } from './tensor';
export type { DType, TensorData } from './tensor';
export { FcnkitError, ERROR_CODES } from './errors';
export type { ErrorCode } from './errors';
export { ops } from './ops';
export * from './ops/index';
export { backendInfo } from './backend';
export type { BackendInfo } from './backend';
export { GraphBuilder, SymbolicTensor, DimExpr, LAYER_TYPES, PARAM_INITS } from './graph/builder';
export type {
  Dim, Layer, LayerType, ParamInit, ParamSpec, CropSpec, GraphInput, GraphOutput, Conv2dLayerOptions,
  ConvTranspose2dLayerOptions, Pool2dLayerOptions, AvgPool2dLayerOptions, CropLayerOptions, BatchNormLayerOptions,
  LinearLayerOptions,
} from './graph/builder';
export { Model, bilinearKernel, ONNX_OPSET_MIN, ONNX_OPSET_MAX } from './graph/model';
export type { ModelOptions, RunOptions, LoadWeightsOptions, LoadWeightsResult, ExportOnnxOptions } from './graph/model';
export { models, unetValidInputSize, FCN_VARIANTS, FCN_BACKBONES, UNET_PADDINGS } from './models';
export type { FcnOptions, FcnVariant, FcnBackbone, UnetOptions, UnetPadding } from './models';
export {
  convolutionalize, shiftAndStitch, overlapTile, overlapTileGeometry, argmaxLabels, argmaxLabelsSync, colorize, vocPalette,
  VOC_CLASSES, confusionMatrix, segmentationMetrics, SegmentationEvaluator,
} from './dense';
export type {
  ConvolutionalizeOptions, ShiftAndStitchOptions, RunnableModel, OverlapTileOptions, TileGeometry, TileableModel, Rgb,
  Palette, RgbImage, LabelArray, ConfusionMatrixOptions, SegmentationMetrics,
} from './dense';
export {
  loadImage, resizeScoresToOriginal, resolvePreprocessing, loadPreprocessingSidecar, parseSidecar, PREPROCESSING_PRESETS,
  RESIZE_FITS, CHANNEL_ORDERS, ALPHA_MODES, RESIZE_KERNELS, IMAGE_FORMATS, DEFAULT_MAX_PIXELS,
} from './io/image';
export type {
  Preprocessing, LoadImageOptions, LoadedImage, ImageMapping, ResizeFit, ChannelOrder, AlphaMode, ResizeKernel, ImageFormat,
  PresetName,
} from './io/image';
export { importTflite, isTflite, TFLITE_IDENTIFIER, TFLITE_SUPPORTED_OPS } from './io/tflite-import';
export type { TfliteImportOptions } from './io/tflite-import';
export { segmentPerson, SELFIE_MODEL_PATH } from './segment-person';
export type { SegmentPersonOptions, PersonSegmentation } from './segment-person';
export { InferenceSession, detectModelFormat } from './session';
export { DEVICES, PRECISIONS, DEFAULT_PRECISION, CudaCompiledGraph, cudaOpTypes } from './device';
export { CompiledGraph } from './graph/compiled';
export type { CompiledGraphOptions, GraphRunOptions, ProfiledStep } from './graph/compiled';
export type { GraphInputs, GraphOutputs } from './graph/plan-cache';
export type { GraphSpec, GraphSpecNode } from './graph/spec';
export type { Device, Precision, DeviceOptions, CudaGraphOptions, CudaRunOptions } from './device';
export type { ModelSource, SessionOptions, SessionRunOptions, TensorMetadata } from './session';
export { importOnnx, ONNX_OPS, ONNX_IMPORT_OPSET_MIN, ONNX_IMPORT_OPSET_MAX } from './io/onnx-import';
export type { OnnxImportOptions } from './io/onnx-import';
export { loadSafetensors, loadSafetensorsSync, mapStateDict, UNET_TORCH_MAPPING, SAFETENSORS_DTYPES } from './io/safetensors';
export type { SafetensorsDtype, StateDictMapping } from './io/safetensors';
export { importCaffe, loadCaffeWeights, encodeCaffemodel, parsePrototxt, CAFFE_LAYER_TYPES } from './io/caffe-import';
export type { CaffeImportedGraph, CaffemodelLayer, EncodeCaffemodelOptions } from './io/caffe-import';
export { readNpy, writeNpy, parseNpy, encodeNpy, npyToTensor, tensorToNpy, NPY_DTYPES } from './io/npy';
export type { NpyArray, NpyDType, NpyData } from './io/npy';
export {
  writeOutputs, labelsFromScores, foregroundProbability, readLabelImage, outputFileName, OUTPUT_FORMATS, DEFAULT_FORMATS,
} from './io/outputs';
export type { OutputFormat, Photo, LabelResult, LabelOptions, WriteOutputsOptions } from './io/outputs';
export { writeFileAtomic } from './io/atomic-write';
export { createSegmentWorker, enqueueSegmentJobs, queueStatus, retryFailed, drainQueue, segmentJobId, DEFAULT_QUEUE_NAME } from './queue';
export type {
  SegmentWorker, SegmentWorkerOptions, SegmentWorkerEvent, SegmentJobData, SegmentJobResult, EnqueueInput, EnqueueOptions, EnqueueResult,
  EnqueuedJob, QueueConnection, QueueStatus, FailedJob, JobState,
} from './queue';

// Every export: arguments screened and every error coded (see api-guard.ts).
import { guardExports } from './api-guard';
guardExports(exports, __dirname);
