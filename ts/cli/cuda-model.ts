/**
 * `fcnkit segment --device cuda`: the imported model on the GPU behind the same small interface
 * the CPU's NativeSharedModel gives SegmentEngine (run by ticket, abort by ticket). One
 * CudaCompiledGraph per input shape (weights uploaded once per shape's graph; --size or a
 * fixed-size model gives one for the whole batch). Runs on the main thread: the GPU does the work,
 * and decoding of the next image overlaps the current run.
 */
import { CudaCompiledGraph, compileOn } from '../device';
import type { Precision, ResolvedDevice } from '../device';
import { FcnkitError } from '../errors';
import type { ImportedGraph } from '../io/imported';
import type { NativeTensor } from '../native';
import type { Tensor } from '../tensor';
import type { SegmentModel } from './segment-core';
import { shapeKey } from './segment-worker';

export class CudaSegmentModel implements SegmentModel {
  private readonly graphs = new Map<string, CudaCompiledGraph>();
  private readonly running = new Map<number, AbortController>();
  private closed = false;

  constructor(
    private readonly imported: ImportedGraph,
    private readonly inputName: string,
    private readonly target: ResolvedDevice,
  ) {}

  get precision(): Precision {
    return this.target.precision;
  }

  /** The graph for this input shape on the GPU (UNSUPPORTED_OP names a node the GPU lacks). */
  async ensure(shape: number[]): Promise<void> {
    const key = shapeKey(shape);
    if (this.graphs.has(key)) return;
    const graph = compileOn(this.imported.specFor({ [this.inputName]: shape }), this.target, 1) as CudaCompiledGraph;
    this.graphs.set(key, graph);
  }

  async run(inputs: Tensor[], _threads?: number, ticket?: number): Promise<Array<NativeTensor & { name: string }>> {
    if (this.closed) throw new FcnkitError('ABORTED', 'stopped');
    const graph = this.graphs.get(shapeKey([...inputs[0].shape]));
    if (!graph) throw new FcnkitError('INVALID_ARGUMENT', `no graph for input shape [${inputs[0].shape.join(', ')}]`);
    const controller = new AbortController();
    if (ticket !== undefined) this.running.set(ticket, controller);
    try {
      const outs = await graph.run({ [this.inputName]: inputs[0] }, { signal: controller.signal });
      return graph.outputNames.map((name) => ({ name, data: outs[name].data as Float32Array | Int32Array, shape: outs[name].shape }));
    } finally {
      if (ticket !== undefined) this.running.delete(ticket);
    }
  }

  abort(ticket?: number): void {
    if (ticket === undefined) for (const c of this.running.values()) c.abort();
    else this.running.get(ticket)?.abort();
  }

  release(): void {
    this.closed = true;
    this.abort();
    for (const g of this.graphs.values()) g.dispose();
    this.graphs.clear();
  }
}
