/**
 * fcnkit run MODEL --input x.npy [--input name=y.npy] --output PATH
 *
 * Runs a model on NPY tensors (C order) and writes its outputs as NPY: the one output to PATH,
 * or each output to PATH/<name>.npy when there are several. Float outputs are float32, integer
 * outputs (labels) int64, as numpy and onnxruntime users expect.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FcnkitError } from '../errors';
import { compileOn } from '../device';
import { makeDirs } from '../io/safe-file';
import { removeStaleTempFiles } from '../io/atomic-write';
import { npyToTensor, readNpy, tensorToNpy, writeNpy } from '../io/npy';
import type { Tensor } from '../tensor';
import { UsageError, boolOpt, intOpt, listOpt, parseCommand, stringOpt } from './args';
import type { OptionSpecs } from './args';
import type { CommandContext } from './context';
import { DEVICE_SPECS, DEVICE_USAGE, deviceOpt } from './device-opts';
import { DEFAULT_MODEL_FILE, importModelFile, isDefaultModel } from './model';

export const RUN_USAGE = `Usage: fcnkit run MODEL --input X.npy [--input NAME=Y.npy ...] --output PATH [options]

Runs MODEL (ONNX, Caffe NET.prototxt[:WEIGHTS.caffemodel], TFLite, or 'default') on NPY
tensors (C order; float32, float64, integer or bool arrays are converted to the input's type)
and writes the outputs as NPY: float32, or int64 for integer outputs such as labels.

Options:
  --input FILE|NAME=FILE  an input tensor; a bare FILE is the model's first input (or its
                          only one); repeat for each input
  --output PATH           the output file when the model has one output; a folder otherwise,
                          each output written to PATH/<name>.npy
  --threads N             threads for the run (default: all)
${DEVICE_USAGE}
  --json                  print what was written as JSON
  -h, --help              show this help`;

const SPECS: OptionSpecs = {
  ...DEVICE_SPECS,
  input: { type: 'string', multiple: true },
  output: { type: 'string' },
  threads: { type: 'string' },
  json: { type: 'boolean' },
};

/** A file name for an output name (ONNX names may hold '/' or ':'). */
export function safeFileName(name: string): string {
  const s = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  return s || 'output';
}

export async function runCommand(argv: string[], ctx: CommandContext): Promise<number> {
  const p = parseCommand('run', argv, SPECS);
  if (boolOpt(p, 'help')) {
    ctx.out.write(`${RUN_USAGE}\n`);
    return 0;
  }
  if (p.positionals.length === 0) throw new UsageError('missing MODEL', 'run');
  if (p.positionals.length > 1) throw new UsageError(`unexpected argument '${p.positionals[1]}'`, 'run');
  const inputArgs = listOpt(p, 'input');
  if (inputArgs.length === 0) throw new UsageError('missing --input X.npy', 'run');
  const outPath = stringOpt(p, 'output', 'run');
  if (!outPath) throw new UsageError('missing --output PATH', 'run');
  const threads = intOpt(p, 'threads', 'run', { min: 1, max: 4096 });
  const target = deviceOpt(p, 'run');

  const modelArg = p.positionals[0];
  const { imported } = await importModelFile(isDefaultModel(modelArg) ? DEFAULT_MODEL_FILE : modelArg);
  const names = imported.inputs.map((i) => i.name);

  // Pair each --input with a model input.
  const files = new Map<string, string>();
  for (const arg of inputArgs) {
    const eq = arg.indexOf('=');
    let name: string;
    let file: string;
    if (eq > 0 && names.includes(arg.slice(0, eq))) {
      name = arg.slice(0, eq);
      file = arg.slice(eq + 1);
    } else if (eq > 0 && !fs.existsSync(arg)) {
      throw new UsageError(`--input ${arg}: the model has no input '${arg.slice(0, eq)}' (its inputs: ${names.join(', ')})`, 'run');
    } else {
      name = names.find((n) => !files.has(n)) ?? '';
      file = arg;
      if (!name) throw new UsageError(`--input ${arg}: every input of the model (${names.join(', ')}) is already given`, 'run');
    }
    if (files.has(name)) throw new UsageError(`input '${name}' is given twice`, 'run');
    files.set(name, file);
  }
  const absent = names.filter((n) => !files.has(n));
  if (absent.length) throw new UsageError(`no --input for ${absent.map((n) => `'${n}'`).join(', ')} (give --input NAME=FILE.npy)`, 'run');

  const feeds: Record<string, Tensor> = {};
  for (const info of imported.inputs) {
    const file = files.get(info.name) as string;
    feeds[info.name] = npyToTensor(await readNpy(file), info.dtype, file);
  }
  const shapes: Record<string, number[]> = {};
  for (const [n, t] of Object.entries(feeds)) shapes[n] = [...t.shape];
  const graph = compileOn(imported.specFor(shapes), target, 1);
  let outputs: Record<string, Tensor>;
  try {
    outputs = await graph.run(feeds, { signal: ctx.signal, threads });
  } finally {
    graph.dispose();
  }

  const outNames = Object.keys(outputs);
  // Never write over an input: the output file (or a file in the output folder) that is one.
  const inputIds = new Map<string, string>();
  for (const f of files.values()) {
    const st = await fs.promises.stat(f).catch(() => undefined);
    if (st) inputIds.set(`${st.dev}:${st.ino}`, f);
  }
  const refuseInput = async (file: string): Promise<void> => {
    const st = await fs.promises.stat(file).catch(() => undefined);
    const input = st && inputIds.get(`${st.dev}:${st.ino}`);
    if (input !== undefined) throw new FcnkitError('INVALID_ARGUMENT', `the output '${file}' is the input '${input}': choose another --output`);
  };
  const written: Array<{ name: string; file: string; dtype: string; shape: number[] }> = [];
  if (outNames.length === 1) {
    const parent = path.dirname(outPath);
    if (!fs.existsSync(parent)) throw new FcnkitError('IO_ERROR', `cannot write '${outPath}': folder '${parent}' does not exist`);
    await refuseInput(outPath);
    removeStaleTempFiles(parent, 0);
    const npy = tensorToNpy(outputs[outNames[0]]);
    await writeNpy(outPath, npy);
    written.push({ name: outNames[0], file: outPath, dtype: npy.dtype, shape: npy.shape });
  } else {
    await makeDirs(outPath, 'output folder');
    removeStaleTempFiles(outPath, 0);
    const used = new Set<string>();
    const plan = outNames.map((n) => {
      let base = safeFileName(n);
      while (used.has(base)) base = `${base}_`;
      used.add(base);
      return { name: n, file: path.join(outPath, `${base}.npy`) };
    });
    for (const { file } of plan) await refuseInput(file);
    for (const { name: n, file } of plan) {
      const npy = tensorToNpy(outputs[n]);
      await writeNpy(file, npy);
      written.push({ name: n, file, dtype: npy.dtype, shape: npy.shape });
    }
  }
  if (boolOpt(p, 'json')) ctx.out.write(`${JSON.stringify({ outputs: written }, null, 2)}\n`);
  else for (const w of written) ctx.out.write(`${w.name} -> ${w.file} (${w.dtype} [${w.shape.join(', ')}])\n`);
  return 0;
}
