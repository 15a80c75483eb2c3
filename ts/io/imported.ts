/**
 * What every model importer (ONNX, Caffe, TFLite) produces, and what InferenceSession runs.
 * An importer parses and validates the file once (unsupported ops are UNSUPPORTED_OP at load),
 * then emits a GraphSpec per concrete input size: shape subgraphs folded, dynamic dims fixed.
 */
import type { GraphSpec } from '../graph/spec';
import type { Model } from '../graph/model';

export const MODEL_FORMATS = ['onnx', 'caffe', 'tflite'] as const;
export type ModelFormat = (typeof MODEL_FORMATS)[number];

/** A dimension: a size, a symbolic name ('H', 'batch'), or null when unnamed and unknown. */
export type Dim = number | string | null;

export interface ImportedTensorInfo {
  name: string;
  /** 'float32' for images and scores; 'int32' for label outputs (ONNX int64 ArgMax comes out as int32). */
  dtype: 'float32' | 'int32';
  /** NCHW as the core sees it (TFLite's NHWC is converted at load). */
  shape: Dim[];
}

export interface ImportedGraph {
  format: ModelFormat;
  inputs: ImportedTensorInfo[];
  outputs: ImportedTensorInfo[];
  /** The native graph for these concrete input shapes (by input name). Throws FcnkitError
   *  SHAPE_MISMATCH / BAD_MODEL when the shapes don't fit the model. */
  specFor(inputShapes: Record<string, readonly number[]>): GraphSpec;
  /** The same network as a Model (parameters, exportOnnx) where the importer can express it
   *  with the graph builder; undefined otherwise. */
  toModel?(): Model;
  /** Preprocessing that travels with the model (see ts/io/image.ts), when the format or a
   *  sidecar JSON says it. */
  preprocessing?: unknown;
}
