/** `fcnkit info` and `fcnkit bench` on a Mask R-CNN (NET.safetensors + NET.json sidecar). */
import { Tensor } from '../tensor';
import { UsageError, boolOpt, intOpt, parseShape, stringOpt } from './args';
import type { Parsed } from './args';
import type { CommandContext } from './context';
import { loadMaskRcnn } from './segment-instances';

export async function maskRcnnInfo(p: Parsed, ctx: CommandContext, model: string): Promise<number> {
  const { net } = await loadMaskRcnn(model);
  try {
    const params = net.parameters();
    const count = params.reduce((s, q) => s + q.shape.reduce((a, b) => a * b, 1), 0);
    const info = {
      model, architecture: 'maskrcnn_resnet50_fpn', numClasses: net.numClasses, classes: net.classes ?? null,
      minSize: net.minSize, maxSize: net.maxSize, parameters: count, tensors: params.length,
      channels: net.architecture,
      thresholds: { boxScore: net.boxScoreThresh, boxNms: net.boxNmsThresh, rpnNms: net.rpnNmsThresh, detectionsPerImage: net.detectionsPerImage },
    };
    if (boolOpt(p, 'json')) ctx.out.write(`${JSON.stringify(info, null, 2)}\n`);
    else {
      ctx.out.write([
        `model          ${model} (Mask R-CNN, torchvision maskrcnn_resnet50_fpn)`,
        `classes        ${net.numClasses}${net.classes ? ` (${net.classes.slice(0, 6).join(', ')}${net.numClasses > 6 ? ', ...' : ''})` : ''}`,
        `input          RGB, short side ${net.minSize} (long side at most ${net.maxSize}), padded to a multiple of 32`,
        `parameters     ${count.toLocaleString('en-US')} in ${params.length} tensors`,
        `stages         ResNet blocks [${net.architecture.blocks.join(', ')}], FPN ${net.architecture.fpn}, box head ${net.architecture.representation}, mask head [${net.architecture.maskLayers.join(', ')}]`,
      ].join('\n') + '\n');
    }
  } finally {
    net.dispose();
  }
  return 0;
}

export async function maskRcnnBench(p: Parsed, ctx: CommandContext, model: string): Promise<number> {
  if (stringOpt(p, 'vs', 'bench') !== undefined) throw new UsageError('--vs onnxruntime is not available for a Mask R-CNN (see bench/maskrcnn.js)', 'bench');
  const shapeText = stringOpt(p, 'shape', 'bench');
  const shape = shapeText === undefined ? [1, 3, 800, 800] : parseShape(shapeText, 'bench');
  if (shape.length !== 4 || shape[0] !== 1 || shape[1] !== 3) throw new UsageError('--shape must be 1x3xHxW for a Mask R-CNN', 'bench');
  const runs = intOpt(p, 'runs', 'bench', { min: 1, max: 100000 }) ?? 10;
  const warmup = intOpt(p, 'warmup', 'bench', { min: 0, max: 100000 }) ?? 1;
  const threads = intOpt(p, 'threads', 'bench', { min: 1, max: 4096 });
  const [, , h, w] = shape;
  const data = new Float32Array(3 * h * w);
  for (let i = 0; i < data.length; i++) data[i] = 0.5 + 0.4 * Math.sin(i * 0.013) * Math.cos(i * 0.0007);
  const input = new Tensor(data, [1, 3, h, w]);
  const { net } = await loadMaskRcnn(model);
  const times: number[] = [];
  let instances = 0;
  try {
    for (let i = 0; i < warmup + runs; i++) {
      const t0 = process.hrtime.bigint();
      const r = await net.detect(input, { ...(threads ? { threads } : {}), signal: ctx.signal });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (i >= warmup) times.push(ms);
      instances = r.instances.length;
    }
  } finally {
    net.dispose();
  }
  const sorted = [...times].sort((a, b) => a - b);
  const result = { model, shape, runs, medianMs: sorted[Math.floor(sorted.length / 2)], minMs: sorted[0], maxMs: sorted[sorted.length - 1], instances };
  if (boolOpt(p, 'json')) ctx.out.write(`${JSON.stringify(result, null, 2)}\n`);
  else ctx.out.write(`${model} at ${w}×${h}: median ${result.medianMs.toFixed(1)} ms (min ${result.minMs.toFixed(1)}, max ${result.maxMs.toFixed(1)}) over ${runs} runs, ${instances} instances\n`);
  return 0;
}
