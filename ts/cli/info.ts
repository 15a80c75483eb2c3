/**
 * fcnkit info MODEL [--shape 1x3xHxW] [--json]
 *
 * Inputs and outputs as the model declares them, then, at one concrete input shape, what the
 * core compiles: op counts, parameters, FLOPs and the activation memory of one run.
 */
import type { ImportedGraph, ImportedTensorInfo } from '../io/imported';
import { native } from '../native';
import { UsageError, boolOpt, parseCommand, parseShape, stringOpt } from './args';
import type { OptionSpecs } from './args';
import type { CommandContext } from './context';
import { formatBytes, formatCount, graphCost } from './flops';
import { DEFAULT_MODEL_FILE, isDefaultModel } from './model';
import { importModelFile } from './model';
import { isMaskRcnnModel } from './segment-instances';

export const INFO_USAGE = `Usage: fcnkit info MODEL [options]

Shows a model's inputs and outputs, and at one input shape: op counts, parameter count,
FLOPs (convolution, transposed convolution and GEMM multiply-adds × 2) and the memory
one run needs. MODEL is an ONNX, Caffe (NET.prototxt[:WEIGHTS.caffemodel]) or TFLite file,
or 'default' (the embedded person segmenter).

Options:
  --shape NxCxHxW   the first input's shape (default: the declared one, with 1 for an open
                    batch size and 512 for open height and width)
  --json            print the results as JSON
  -h, --help        show this help`;

const SPECS: OptionSpecs = { shape: { type: 'string' }, json: { type: 'boolean' } };

export const DEFAULT_SPATIAL = 512;

function dimText(d: number | string | null): string {
  return d === null ? '?' : String(d);
}

export function tensorText(t: ImportedTensorInfo): string {
  return `${t.name}  ${t.dtype} [${t.shape.map(dimText).join(', ')}]`;
}

/** Concrete shapes for every input: --shape for the first, open dims filled in. */
export function concreteShapes(imported: ImportedGraph, shape: number[] | undefined, command: string): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  imported.inputs.forEach((input, i) => {
    if (i === 0 && shape) {
      if (shape.length !== input.shape.length) {
        throw new UsageError(`--shape has ${shape.length} dimensions but input '${input.name}' has ${input.shape.length} ([${input.shape.map(dimText).join(', ')}])`, command);
      }
      input.shape.forEach((d, k) => {
        if (typeof d === 'number' && d !== shape[k]) {
          throw new UsageError(`--shape ${shape.join('x')}: input '${input.name}' has dimension ${k} fixed at ${d}`, command);
        }
      });
      out[input.name] = shape;
      return;
    }
    out[input.name] = input.shape.map((d, k) => {
      if (typeof d === 'number') return d;
      if (k === 0) return 1;
      if (input.shape.length === 4 && k >= 2) return DEFAULT_SPATIAL;
      throw new UsageError(`input '${input.name}' has an open dimension ${k} ([${input.shape.map(dimText).join(', ')}]); give --shape`, command);
    });
  });
  return out;
}

export async function infoCommand(argv: string[], ctx: CommandContext): Promise<number> {
  const p = parseCommand('info', argv, SPECS);
  if (boolOpt(p, 'help')) {
    ctx.out.write(`${INFO_USAGE}\n`);
    return 0;
  }
  if (p.positionals.length === 0) throw new UsageError('missing MODEL', 'info');
  if (p.positionals.length > 1) throw new UsageError(`unexpected argument '${p.positionals[1]}'`, 'info');
  const shapeText = stringOpt(p, 'shape', 'info');
  const shape = shapeText === undefined ? undefined : parseShape(shapeText, 'info');
  const modelArg = p.positionals[0];
  if (isMaskRcnnModel(modelArg)) return (await import('./maskrcnn-commands')).maskRcnnInfo(p, ctx, modelArg);
  const { imported, format, file } = await importModelFile(isDefaultModel(modelArg) ? DEFAULT_MODEL_FILE : modelArg);
  const shapes = concreteShapes(imported, shape, 'info');
  const spec = imported.specFor(shapes);
  const ordered = imported.inputs.map((i) => shapes[i.name]);
  const shared = new (native().SharedModel)();
  let cost;
  try {
    shared.addSpec(ordered, spec);
    cost = graphCost(shared, spec, ordered);
  } finally {
    shared.release();
  }
  const at = Object.entries(shapes).map(([n, s]) => `${n} ${s.join('x')}`).join(', ');
  if (boolOpt(p, 'json')) {
    ctx.out.write(`${JSON.stringify({
      model: file,
      format,
      inputs: imported.inputs,
      outputs: imported.outputs,
      shapes,
      outputShapes: Object.fromEntries(spec.outputs.map((n, i) => [n, cost.outputShapes[i]])),
      opCounts: cost.opCounts,
      parameters: cost.parameters,
      flops: cost.flops,
      flopsByType: cost.flopsByType,
      arenaBytes: cost.arenaBytes,
    }, null, 2)}\n`);
    return 0;
  }
  const ops = Object.entries(cost.opCounts).sort((a, b) => b[1] - a[1]).map(([t, n]) => `${t} ${n}`).join(', ');
  const byType = Object.entries(cost.flopsByType).sort((a, b) => b[1] - a[1]).map(([t, f]) => `${t} ${formatCount(f)}`).join(', ');
  const lines = [
    `model        ${file} (${format})`,
    ...imported.inputs.map((t, i) => `${i === 0 ? 'inputs ' : '       '}      ${tensorText(t)}`),
    ...imported.outputs.map((t, i) => `${i === 0 ? 'outputs' : '       '}      ${tensorText(t)}`),
    `at           ${at}${shape ? '' : '  (--shape changes it)'}`,
    ...spec.outputs.map((n, i) => `  -> ${n} [${cost.outputShapes[i].join(', ')}]`),
    `parameters   ${formatCount(cost.parameters)} (${formatBytes(cost.parameters * 4)} float32)`,
    `FLOPs        ${formatCount(cost.flops)}${byType ? ` (${byType})` : ''}`,
    `activations  ${formatBytes(cost.arenaBytes)} per run (planned, with buffer reuse)`,
    `ops          ${Object.values(cost.opCounts).reduce((a, b) => a + b, 0)}: ${ops}`,
  ];
  ctx.out.write(`${lines.join('\n')}\n`);
  return 0;
}
