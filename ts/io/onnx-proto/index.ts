export * from './wire';
export * from './onnx';
export * from './builders';
