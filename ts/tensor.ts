import { FcnkitError, describe } from './errors';

export const DTYPES = ['float32', 'int32'] as const;
export type DType = (typeof DTYPES)[number];
export type TensorData = Float32Array | Int32Array;

/** A dense, row-major (NCHW) tensor over a typed array, which is used as is, not copied. */
export class Tensor<D extends TensorData = TensorData> {
  readonly data: D;
  readonly shape: readonly number[];

  constructor(data: D, shape: readonly number[]) {
    if (!(data instanceof Float32Array) && !(data instanceof Int32Array)) {
      throw new FcnkitError('INVALID_ARGUMENT', `Expected Float32Array or Int32Array for Tensor data but received ${describe(data)}`);
    }
    if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) {
      throw new FcnkitError('INVALID_ARGUMENT', `Expected an array of non-negative integers for Tensor shape but received ${describe(shape)}`);
    }
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== data.length) {
      throw new FcnkitError(
        'SHAPE_MISMATCH',
        `Tensor: shape [${shape.join(', ')}] needs ${size} elements but data has ${data.length}`,
      );
    }
    this.data = data;
    this.shape = Object.freeze([...shape]);
  }

  get dtype(): DType {
    return this.data instanceof Int32Array ? 'int32' : 'float32';
  }

  get size(): number {
    return this.data.length;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** Same data, new shape (same number of elements). */
  reshape(shape: readonly number[]): Tensor<D> {
    return new Tensor(this.data, shape);
  }

  toString(): string {
    return `Tensor(${this.dtype}, [${this.shape.join(', ')}])`;
  }
}

export function isTensor(v: unknown): v is Tensor {
  return v instanceof Tensor;
}
