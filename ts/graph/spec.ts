/**
 * The plain description of a graph that TypeScript hands to the native core once; the core
 * compiles it into a plan per input size (shapes inferred, weights packed once, activations in
 * a liveness-planned arena) and runs a whole plan in one async native call.
 *
 * Op types and attribute names are exactly those of the single-op calls (`ops.*` resolve
 * their options into the same { type, attrs }: see ts/ops/*.ts and cpp/ops/registry.cc).
 */
import type { NativeAttrs, NativeTensor } from '../native';

export interface GraphSpecInput {
  name: string;
  /** Dimensions; null where the size is only known at run time (e.g. H and W). */
  shape: ReadonlyArray<number | null>;
}

export interface GraphSpecNode {
  /** Unique node name, used in error messages ("conv2d 'conv1_1': ..."). */
  name: string;
  type: string;
  /** Value names: graph inputs, constants, or outputs of earlier nodes. Nodes are listed in
   *  topological order. */
  inputs: string[];
  outputs: string[];
  attrs: NativeAttrs;
}

export interface GraphSpec {
  inputs: GraphSpecInput[];
  /** Weights and other fixed tensors, by value name. The core keeps a reference to the data
   *  (no copy) and packs what its kernels need once per plan. */
  constants: Record<string, NativeTensor>;
  nodes: GraphSpecNode[];
  /** Value names returned by a run, in order. */
  outputs: string[];
}
