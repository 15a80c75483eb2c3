export { Tensor, DTYPES, isTensor } from './tensor';
export type { DType, TensorData } from './tensor';
export { FcnkitError, ERROR_CODES } from './errors';
export type { ErrorCode } from './errors';
export { ops } from './ops';
export * from './ops/index';
export { backendInfo } from './backend';
export type { BackendInfo } from './backend';
