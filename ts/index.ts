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
} from './graph/builder';
export { Model, bilinearKernel, ONNX_OPSET_MIN, ONNX_OPSET_MAX } from './graph/model';
export type { ModelOptions, RunOptions, LoadWeightsOptions, LoadWeightsResult, ExportOnnxOptions } from './graph/model';
export { models, unetValidInputSize, FCN_VARIANTS, FCN_BACKBONES, UNET_PADDINGS } from './models';
export type { FcnOptions, FcnVariant, FcnBackbone, UnetOptions, UnetPadding } from './models';
