/**
 * Work and size of a compiled graph, from the shapes the core inferred (NativeSharedModel
 * describe()). FLOPs count the multiply-adds of convolution, transposed convolution and
 * GEMM/MatMul as 2 operations each (the convention of papers and of GFLOP/s figures); the
 * element-wise ops, pooling and resizing are a rounding error next to them and are left out.
 */
import type { GraphSpec } from '../graph/spec';
import type { NativeSharedModel, NativeValueInfo } from '../native';

export interface GraphCost {
  /** Multiply-adds × 2 of conv2d, convTranspose2d, gemm and matmul nodes. */
  flops: number;
  /** By op type. */
  flopsByType: Record<string, number>;
  /** By node name (nodes with FLOPs only). */
  flopsByNode: Record<string, number>;
  /** Nodes by op type (as the core runs them, after import). */
  opCounts: Record<string, number>;
  /** Elements of the float32 constants (weights, biases). */
  parameters: number;
  /** Bytes of activations one run needs (the planned arena, with reuse). */
  arenaBytes: number;
  outputShapes: number[][];
}

const numel = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

function nodeFlops(type: string, inputs: NativeValueInfo[], outputs: NativeValueInfo[], attrs: Record<string, unknown>): number {
  const out = outputs[0]?.shape;
  if (!out) return 0;
  switch (type) {
    case 'conv2d': {
      // weight [Cout, Cin / groups, kh, kw]: each output element is Cin/groups·kh·kw multiply-adds.
      const w = inputs[1]?.shape;
      return w && w.length === 4 ? 2 * numel(out) * w[1] * w[2] * w[3] : 0;
    }
    case 'convTranspose2d': {
      // weight [Cin, Cout / groups, kh, kw]: each input element scatters Cout/groups·kh·kw.
      const x = inputs[0]?.shape;
      const w = inputs[1]?.shape;
      return x && w && w.length === 4 ? 2 * numel(x) * w[1] * w[2] * w[3] : 0;
    }
    case 'gemm': {
      const a = inputs[0]?.shape;
      if (!a || a.length !== 2) return 0;
      const k = attrs.transA ? a[0] : a[1];
      return 2 * numel(out) * k;
    }
    case 'matmul': {
      const a = inputs[0]?.shape;
      return a && a.length >= 1 ? 2 * numel(out) * a[a.length - 1] : 0;
    }
    default:
      return 0;
  }
}

/** The cost of `spec` at `shapes` (compiled in `model`, which must hold the spec for them). */
export function graphCost(model: NativeSharedModel, spec: GraphSpec, shapes: number[][]): GraphCost {
  const d = model.describe(shapes);
  const attrsByName = new Map(spec.nodes.map((n) => [n.name, n.attrs as Record<string, unknown>]));
  const opCounts: Record<string, number> = {};
  const flopsByType: Record<string, number> = {};
  const flopsByNode: Record<string, number> = {};
  let flops = 0;
  for (const s of d.steps) {
    opCounts[s.type] = (opCounts[s.type] ?? 0) + 1;
    const f = nodeFlops(s.type, s.inputs, s.outputs, attrsByName.get(s.name) ?? {});
    if (f) {
      flopsByType[s.type] = (flopsByType[s.type] ?? 0) + f;
      flopsByNode[s.name] = f;
    }
    flops += f;
  }
  let parameters = 0;
  for (const c of Object.values(spec.constants)) if (c.data instanceof Float32Array) parameters += c.data.length;
  return { flops, flopsByType, flopsByNode, opCounts, parameters, arenaBytes: d.arenaBytes, outputShapes: d.outputShapes };
}

export function formatCount(n: number): string {
  if (n >= 1e12) return `${(n / 1e12).toFixed(2)} T`;
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}

export function formatBytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)} KiB`;
  return `${n} B`;
}
