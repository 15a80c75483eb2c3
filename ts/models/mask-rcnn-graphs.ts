/**
 * The static parts of torchvision's maskrcnn_resnet50_fpn as three native graphs, each run in one
 * native call: (1) ResNet body + FPN + RPN head at the padded image size, (2) the box head
 * (TwoMLPHead + FastRCNNPredictor, GEMMs over the flattened 7×7 RoI features) for R
 * RoIs, (3) the mask head (MaskRCNNHeads + MaskRCNNPredictor) for D detections. FrozenBatchNorm
 * is folded into the convolution before it at load.
 *
 * Parameter names are torchvision's, in the form of its published COCO checkpoint
 * (`backbone.fpn.inner_blocks.0.weight`, `rpn.head.conv.weight`, `roi_heads.mask_head.mask_fcn1.weight`);
 * newer torchvision's Conv2dNormActivation form (`inner_blocks.0.0.weight`, `rpn.head.conv.0.0.weight`,
 * `roi_heads.mask_head.0.0.weight`) is accepted too (see canonicalName).
 */
import { FcnkitError } from '../errors';
import type { NativeAttrs, NativeTensor } from '../native';
import type { GraphSpec, GraphSpecNode } from '../graph/spec';
import { Tensor } from '../tensor';

/** Channel plan of the network; the default is ResNet-50-FPN. Narrow variants keep every layer. */
export interface MaskRcnnArchitecture {
  /** Bottleneck blocks per stage. ResNet-50: [3, 4, 6, 3]. */
  blocks: readonly [number, number, number, number];
  /** Stem output channels (conv1). 64. */
  stem: number;
  /** Bottleneck inner widths per stage. [64, 128, 256, 512]. */
  widths: readonly [number, number, number, number];
  /** Stage output channels. [256, 512, 1024, 2048]. */
  outs: readonly [number, number, number, number];
  /** FPN channels. 256. */
  fpn: number;
  /** Box head fc6/fc7 width. 1024. */
  representation: number;
  /** Mask head conv widths. [256, 256, 256, 256]. */
  maskLayers: readonly number[];
  /** conv5_mask width. 256. */
  maskReduced: number;
  /** Anchors per location (3 aspect ratios × 1 size per level). */
  anchorsPerLocation: number;
}

export const RESNET50_FPN: MaskRcnnArchitecture = Object.freeze<MaskRcnnArchitecture>({
  blocks: [3, 4, 6, 3], stem: 64, widths: [64, 128, 256, 512], outs: [256, 512, 1024, 2048], fpn: 256,
  representation: 1024, maskLayers: [256, 256, 256, 256], maskReduced: 256, anchorsPerLocation: 3,
});

export interface ParamInfo {
  name: string;
  shape: number[];
}

/** torchvision's ResNet gives a block a projection shortcut when it strides or changes width. */
function hasDownsample(stage: number, block: number, inC: number, outC: number): boolean {
  return (stage > 0 && block === 0) || inC !== outC;
}

/** The names and shapes of every parameter (BN buffers included), canonical form. */
export function maskRcnnParameters(a: MaskRcnnArchitecture, numClasses: number): ParamInfo[] {
  const out: ParamInfo[] = [];
  const conv = (name: string, o: number, i: number, k: number, bias: boolean): void => {
    out.push({ name: `${name}.weight`, shape: [o, i, k, k] });
    if (bias) out.push({ name: `${name}.bias`, shape: [o] });
  };
  const bn = (name: string, c: number): void => {
    for (const p of ['weight', 'bias', 'running_mean', 'running_var']) out.push({ name: `${name}.${p}`, shape: [c] });
  };
  conv('backbone.body.conv1', a.stem, 3, 7, false);
  bn('backbone.body.bn1', a.stem);
  let inC = a.stem;
  for (let s = 0; s < 4; s++) {
    for (let b = 0; b < a.blocks[s]; b++) {
      const p = `backbone.body.layer${s + 1}.${b}`;
      conv(`${p}.conv1`, a.widths[s], inC, 1, false);
      bn(`${p}.bn1`, a.widths[s]);
      conv(`${p}.conv2`, a.widths[s], a.widths[s], 3, false);
      bn(`${p}.bn2`, a.widths[s]);
      conv(`${p}.conv3`, a.outs[s], a.widths[s], 1, false);
      bn(`${p}.bn3`, a.outs[s]);
      if (hasDownsample(s, b, inC, a.outs[s])) {
        conv(`${p}.downsample.0`, a.outs[s], inC, 1, false);
        bn(`${p}.downsample.1`, a.outs[s]);
      }
      inC = a.outs[s];
    }
  }
  for (let i = 0; i < 4; i++) conv(`backbone.fpn.inner_blocks.${i}`, a.fpn, a.outs[i], 1, true);
  for (let i = 0; i < 4; i++) conv(`backbone.fpn.layer_blocks.${i}`, a.fpn, a.fpn, 3, true);
  conv('rpn.head.conv', a.fpn, a.fpn, 3, true);
  conv('rpn.head.cls_logits', a.anchorsPerLocation, a.fpn, 1, true);
  conv('rpn.head.bbox_pred', a.anchorsPerLocation * 4, a.fpn, 1, true);
  out.push({ name: 'roi_heads.box_head.fc6.weight', shape: [a.representation, a.fpn * 49] });
  out.push({ name: 'roi_heads.box_head.fc6.bias', shape: [a.representation] });
  out.push({ name: 'roi_heads.box_head.fc7.weight', shape: [a.representation, a.representation] });
  out.push({ name: 'roi_heads.box_head.fc7.bias', shape: [a.representation] });
  out.push({ name: 'roi_heads.box_predictor.cls_score.weight', shape: [numClasses, a.representation] });
  out.push({ name: 'roi_heads.box_predictor.cls_score.bias', shape: [numClasses] });
  out.push({ name: 'roi_heads.box_predictor.bbox_pred.weight', shape: [numClasses * 4, a.representation] });
  out.push({ name: 'roi_heads.box_predictor.bbox_pred.bias', shape: [numClasses * 4] });
  let mc = a.fpn;
  a.maskLayers.forEach((w, i) => {
    conv(`roi_heads.mask_head.mask_fcn${i + 1}`, w, mc, 3, true);
    mc = w;
  });
  out.push({ name: 'roi_heads.mask_predictor.conv5_mask.weight', shape: [mc, a.maskReduced, 2, 2] });
  out.push({ name: 'roi_heads.mask_predictor.conv5_mask.bias', shape: [a.maskReduced] });
  conv('roi_heads.mask_predictor.mask_fcn_logits', numClasses, a.maskReduced, 1, true);
  return out;
}

/** torchvision >= 0.13 names (Conv2dNormActivation wrappers) -> the checkpoint's names. */
export function canonicalName(name: string): string {
  return name
    .replace(/^backbone\.fpn\.(inner|layer)_blocks\.(\d+)\.0\./, 'backbone.fpn.$1_blocks.$2.')
    .replace(/^rpn\.head\.conv\.0\.0\./, 'rpn.head.conv.')
    .replace(/^roi_heads\.mask_head\.(\d+)\.0\./, (_, i: string) => `roi_heads.mask_head.mask_fcn${Number(i) + 1}.`);
}

type Weights = Map<string, Float32Array>;

/** The three graph specs with BN folded, from checked canonical weights. */
export function buildSpecs(a: MaskRcnnArchitecture, numClasses: number, w: Weights, bnEps: number): { backbone: GraphSpec; boxHead: GraphSpec; maskHead: GraphSpec } {
  const get = (n: string): Float32Array => {
    const v = w.get(n);
    if (!v) throw new FcnkitError('BAD_MODEL', `maskRcnn: weight '${n}' is missing`);
    return v;
  };
  const shapes = new Map(maskRcnnParameters(a, numClasses).map((p) => [p.name, p.shape]));

  const builder = (): { spec: GraphSpec; node: (n: GraphSpecNode) => void; konst: (name: string, data: Float32Array, shape: number[]) => string } => {
    const spec: GraphSpec = { inputs: [], constants: {}, nodes: [], outputs: [] };
    return {
      spec,
      node: (n) => spec.nodes.push(n),
      konst: (name, data, shape) => {
        spec.constants[name] = { data, shape } as NativeTensor;
        return name;
      },
    };
  };
  const convAttrs = (k: number, stride: number, pad: number, relu: boolean): NativeAttrs => ({
    stride: [stride, stride], dilation: [1, 1], groups: 1, activation: relu ? 'relu' : 'none', pads: [pad, pad, pad, pad],
  });

  // ---- backbone + FPN + RPN head -----------------------------------------------------------
  const bb = builder();
  bb.spec.inputs.push({ name: 'image', shape: [1, 3, null, null] });
  const convBn = (name: string, bnName: string, x: string, stride: number, pad: number, relu: boolean, out: string): string => {
    const wt = get(`${name}.weight`);
    const shape = shapes.get(`${name}.weight`)!;
    const g = get(`${bnName}.weight`), b = get(`${bnName}.bias`), m = get(`${bnName}.running_mean`), v = get(`${bnName}.running_var`);
    const oc = shape[0];
    const per = wt.length / oc;
    const fw = new Float32Array(wt.length);
    const fb = new Float32Array(oc);
    for (let o = 0; o < oc; o++) {
      const s = g[o] / Math.sqrt(v[o] + bnEps);
      for (let i = 0; i < per; i++) fw[o * per + i] = wt[o * per + i] * s;
      fb[o] = b[o] - m[o] * s;
    }
    bb.node({
      name: out, type: 'conv2d', inputs: [x, bb.konst(`${name}.weight#folded`, fw, shape), bb.konst(`${name}.bias#folded`, fb, [oc])],
      outputs: [out], attrs: convAttrs(shape[2], stride, pad, relu),
    });
    return out;
  };
  const convB = (g: ReturnType<typeof builder>, name: string, x: string, stride: number, pad: number, relu: boolean, out: string, wShape?: number[]): string => {
    const shape = wShape ?? shapes.get(`${name}.weight`)!;
    g.node({
      name: out, type: 'conv2d',
      inputs: [x, g.konst(`${name}.weight`, get(`${name}.weight`), shape), g.konst(`${name}.bias`, get(`${name}.bias`), [shape[0]])],
      outputs: [out], attrs: convAttrs(shape[2], stride, pad, relu),
    });
    return out;
  };

  let x = convBn('backbone.body.conv1', 'backbone.body.bn1', 'image', 2, 3, true, 'conv1');
  bb.node({ name: 'maxpool', type: 'maxPool2d', inputs: [x], outputs: ['maxpool'], attrs: { kernel: [3, 3], stride: [2, 2], dilation: [1, 1], pads: [1, 1, 1, 1], ceilMode: 0 } });
  x = 'maxpool';
  const stages: string[] = [];
  for (let s = 0; s < 4; s++) {
    for (let b = 0; b < a.blocks[s]; b++) {
      const p = `backbone.body.layer${s + 1}.${b}`;
      const stride = s > 0 && b === 0 ? 2 : 1;
      const y1 = convBn(`${p}.conv1`, `${p}.bn1`, x, 1, 0, true, `${p}.conv1`);
      const y2 = convBn(`${p}.conv2`, `${p}.bn2`, y1, stride, 1, true, `${p}.conv2`);
      const y3 = convBn(`${p}.conv3`, `${p}.bn3`, y2, 1, 0, false, `${p}.conv3`);
      const id = hasDownsample(s, b, b === 0 ? (s === 0 ? a.stem : a.outs[s - 1]) : a.outs[s], a.outs[s]) ? convBn(`${p}.downsample.0`, `${p}.downsample.1`, x, stride, 0, false, `${p}.downsample`) : x;
      bb.node({ name: `${p}.add`, type: 'add', inputs: [y3, id], outputs: [`${p}.add`], attrs: {} });
      bb.node({ name: `${p}.relu`, type: 'relu', inputs: [`${p}.add`], outputs: [`${p}.relu`], attrs: {} });
      x = `${p}.relu`;
    }
    stages.push(x);
  }
  // FPN, top-down: nearest ×2 (sizes match: the image is padded to a multiple of 32).
  const feats: string[] = new Array(4);
  let inner = convB(bb, 'backbone.fpn.inner_blocks.3', stages[3], 1, 0, false, 'fpn.inner3');
  feats[3] = convB(bb, 'backbone.fpn.layer_blocks.3', inner, 1, 1, false, 'fpn.p5');
  for (let i = 2; i >= 0; i--) {
    const lat = convB(bb, `backbone.fpn.inner_blocks.${i}`, stages[i], 1, 0, false, `fpn.lateral${i}`);
    bb.node({
      name: `fpn.up${i}`, type: 'resize', inputs: [inner], outputs: [`fpn.up${i}`],
      attrs: { scale: [2, 2], mode: 'nearest', coordinate: 'asymmetric', nearestMode: 'floor' },
    });
    bb.node({ name: `fpn.inner${i}`, type: 'add', inputs: [lat, `fpn.up${i}`], outputs: [`fpn.inner${i}`], attrs: {} });
    inner = `fpn.inner${i}`;
    feats[i] = convB(bb, `backbone.fpn.layer_blocks.${i}`, inner, 1, 1, false, `fpn.p${i + 2}`);
  }
  bb.node({ name: 'fpn.pool', type: 'maxPool2d', inputs: [feats[3]], outputs: ['fpn.pool'], attrs: { kernel: [1, 1], stride: [2, 2], dilation: [1, 1], pads: [0, 0, 0, 0], ceilMode: 0 } });
  const levels = [...feats, 'fpn.pool'];
  levels.forEach((f, l) => {
    const t = convB(bb, 'rpn.head.conv', f, 1, 1, true, `rpn.conv${l}`);
    convB(bb, 'rpn.head.cls_logits', t, 1, 0, false, `rpn.objectness${l}`);
    convB(bb, 'rpn.head.bbox_pred', t, 1, 0, false, `rpn.deltas${l}`);
  });
  bb.spec.outputs.push(...feats, ...levels.map((_, l) => `rpn.objectness${l}`), ...levels.map((_, l) => `rpn.deltas${l}`));

  // ---- box head: TwoMLPHead + FastRCNNPredictor as GEMMs over the flattened [R, C·7·7] RoIs --------
  const bh = builder();
  bh.spec.inputs.push({ name: 'rois', shape: [null, a.fpn * 49] });
  const fc = (name: string, x: string, inF: number, outF: number, relu: boolean, out: string): string => {
    const lin = relu ? `${out}#linear` : out;
    bh.node({
      name: lin, type: 'gemm',
      inputs: [x, bh.konst(`${name}.weight`, get(`${name}.weight`), [outF, inF]), bh.konst(`${name}.bias`, get(`${name}.bias`), [outF])],
      outputs: [lin], attrs: { transB: 1 },
    });
    if (relu) bh.node({ name: out, type: 'relu', inputs: [lin], outputs: [out], attrs: {} });
    return out;
  };
  fc('roi_heads.box_head.fc6', 'rois', a.fpn * 49, a.representation, true, 'fc6');
  fc('roi_heads.box_head.fc7', 'fc6', a.representation, a.representation, true, 'fc7');
  fc('roi_heads.box_predictor.cls_score', 'fc7', a.representation, numClasses, false, 'logits');
  bh.node({ name: 'scores', type: 'softmax', inputs: ['logits'], outputs: ['scores'], attrs: { axis: 1 } });
  fc('roi_heads.box_predictor.bbox_pred', 'fc7', a.representation, numClasses * 4, false, 'deltas');
  bh.spec.outputs.push('scores', 'deltas');

  // ---- mask head -------------------------------------------------------------------------------
  const mh = builder();
  mh.spec.inputs.push({ name: 'rois', shape: [null, a.fpn, 14, 14] });
  let m = 'rois';
  a.maskLayers.forEach((_, i) => {
    m = convB(mh, `roi_heads.mask_head.mask_fcn${i + 1}`, m, 1, 1, true, `mask_fcn${i + 1}`);
  });
  const dw = 'roi_heads.mask_predictor.conv5_mask';
  mh.node({
    name: 'conv5_mask', type: 'convTranspose2d',
    inputs: [m, mh.konst(`${dw}.weight`, get(`${dw}.weight`), shapes.get(`${dw}.weight`)!), mh.konst(`${dw}.bias`, get(`${dw}.bias`), [a.maskReduced])],
    outputs: ['conv5_mask'], attrs: { ...convAttrs(2, 2, 0, true), outputPadding: [0, 0] },
  });
  convB(mh, 'roi_heads.mask_predictor.mask_fcn_logits', 'conv5_mask', 1, 0, false, 'mask_logits');
  mh.node({ name: 'mask_probs', type: 'sigmoid', inputs: ['mask_logits'], outputs: ['mask_probs'], attrs: {} });
  mh.spec.outputs.push('mask_probs');

  return { backbone: bb.spec, boxHead: bh.spec, maskHead: mh.spec };
}

/** Checks a state dict against the parameter list: canonical names, float32, shapes. */
export function checkWeights(map: Record<string, Tensor>, a: MaskRcnnArchitecture, numClasses: number): { weights: Weights; unused: string[] } {
  if (typeof map !== 'object' || map === null) throw new FcnkitError('INVALID_ARGUMENT', 'maskRcnn loadWeights: expected a record of Tensors');
  const byName = new Map<string, Tensor>();
  const unused: string[] = [];
  for (const [k, v] of Object.entries(map)) {
    if (k.endsWith('num_batches_tracked')) continue;
    byName.set(canonicalName(k), v);
  }
  const weights: Weights = new Map();
  for (const p of maskRcnnParameters(a, numClasses)) {
    const t = byName.get(p.name);
    if (!t) throw new FcnkitError('BAD_MODEL', `maskRcnn loadWeights: '${p.name}' is missing (shape [${p.shape.join(', ')}])`);
    if (!(t instanceof Tensor) || !(t.data instanceof Float32Array)) throw new FcnkitError('BAD_MODEL', `maskRcnn loadWeights: '${p.name}' must be a float32 Tensor`);
    if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
      throw new FcnkitError('SHAPE_MISMATCH', `maskRcnn loadWeights: '${p.name}' has shape [${t.shape.join(', ')}] but the model expects [${p.shape.join(', ')}]`);
    }
    weights.set(p.name, t.data);
    byName.delete(p.name);
  }
  unused.push(...byName.keys());
  return { weights, unused };
}
