/**
 * Convolutionalization (Long, Shelhamer, Darrell, sec. 3.1): a fully connected layer over a
 * fixed C×H×W feature map computes, for each output, a dot product of its weight row with the
 * map flattened in C, H, W order. That is exactly one output pixel of a convolution whose kernel
 * is the weight row viewed as [C, H, W]. Slid over a larger map, the same kernel gives the
 * classifier's score at every placement, so a classifier becomes a net that takes any input at
 * least as large as the one it was made for and returns a map of scores.
 *
 * - The first fc (over [C, H, W]) becomes an H×W conv, weight [out, C*H*W] viewed as [out, C, H, W].
 * - Later fcs (over [N, F, 1, 1]) become 1×1 convs (the same rule with H = W = 1).
 * - Biases, activations and every other layer are kept, with the same names, so the weights
 *   map one to one.
 *
 * The converted net on a larger image equals the classifier run on every crop of its input size
 * at the features' total stride, when the layers before the first fc are unpadded (padding sees
 * zeros at a crop's border where the larger image has pixels) and every pooling keeps the crop's
 * grid (crop offsets multiples of the stride). The conversion itself is exact in any case.
 */
import { FcnkitError, invalidArgument } from '../errors';
import { GraphBuilder, Layer, SymbolicTensor } from '../graph/builder';
import { Model } from '../graph/model';
import { Tensor } from '../tensor';
import type { Padding } from '../ops/define';
import type { Activation } from '../ops/conv';

export interface ConvolutionalizeOptions {
  /**
   * The converted model's input H×W: [h, w] to fix it, or null (default) for any size the
   * network takes (H and W dynamic).
   */
  inputSize?: readonly [number, number] | null;
  /**
   * When `classifier` is a GraphBuilder (no weights yet): the seed of the fresh weights. The
   * converted model then equals `convolutionalize(new Model(graph, { seed }))`. Default 0.
   */
  seed?: number;
}

type Pair = [number, number];

function pairAttr(v: unknown): Pair {
  return [...(v as number[])] as Pair;
}

/** The padding option that resolves to a layer's recorded attrs. */
function paddingOf(l: Layer): Padding {
  const a = l.attrs;
  if (a.autoPad === 'same' || a.autoPad === 'valid') return a.autoPad;
  return [...((a.pads as number[] | undefined) ?? [0, 0, 0, 0])] as [number, number, number, number];
}

/** Re-adds one recorded layer to `g` (linear layers as convolutions); returns its output. */
function rebuild(g: GraphBuilder, l: Layer, v: (name: string) => SymbolicTensor): SymbolicTensor {
  const a = l.attrs;
  const x = v(l.inputs[0]);
  const hasBias = l.params.length > 1;
  switch (l.type) {
    case 'linear': {
      const [outFeatures] = l.params[0].shape;
      return g.conv2d(l.name, x, {
        outChannels: outFeatures, kernel: pairAttr(l.kernel), bias: hasBias, activation: a.activation as Activation,
        inChannels: l.inChannels,
      });
    }
    case 'conv2d':
      return g.conv2d(l.name, x, {
        outChannels: l.params[0].shape[0], kernel: pairAttr(l.kernel), stride: pairAttr(a.stride),
        dilation: pairAttr(a.dilation), groups: a.groups as number, padding: paddingOf(l), bias: hasBias,
        activation: a.activation as Activation, init: l.params[0].init === 'bilinear' ? 'bilinear' : 'he',
      });
    case 'convTranspose2d':
      return g.convTranspose2d(l.name, x, {
        outChannels: l.params[0].shape[1] * (a.groups as number), kernel: pairAttr(l.kernel), stride: pairAttr(a.stride),
        dilation: pairAttr(a.dilation), groups: a.groups as number,
        padding: paddingOf(l) as [number, number, number, number], outputPadding: pairAttr(a.outputPadding),
        bias: hasBias, activation: a.activation as Activation, init: l.params[0].init === 'bilinear' ? 'bilinear' : 'he',
      });
    case 'maxPool2d':
    case 'avgPool2d': {
      const o = {
        kernel: pairAttr(a.kernel), stride: pairAttr(a.stride), dilation: pairAttr(a.dilation),
        padding: paddingOf(l) as [number, number, number, number], ceilMode: a.ceilMode === true,
      };
      return l.type === 'maxPool2d'
        ? g.maxPool2d(l.name, x, o)
        : g.avgPool2d(l.name, x, { ...o, countIncludePad: a.countIncludePad === true });
    }
    case 'relu':
      return g.relu(l.name, x);
    case 'add':
      return g.add(l.name, x, v(l.inputs[1]));
    case 'mul':
      return g.mul(l.name, x, v(l.inputs[1]));
    case 'scale':
      return g.scale(l.name, x, l.factor!);
    case 'concat':
      return g.concat(l.name, l.inputs.map(v), a.axis as number);
    case 'crop': {
      const c = l.crop!;
      const offset = c.offset === 'center' ? 'center' : pairAttr(c.offset);
      return g.crop(l.name, x, { offset, like: l.refs.length ? v(l.refs[0]) : pairAttr(c.size) });
    }
    case 'batchNorm':
      return g.batchNorm(l.name, x, { eps: l.eps });
    case 'softmax':
      return g.softmax(l.name, x, a.axis as number);
  }
}

/**
 * The fully convolutional equivalent of a classifier that ends in fully connected (`linear`)
 * layers: a new Model with the same layer and parameter names, each linear layer replaced by a
 * convolution (see the file comment), inputs' H and W dynamic unless `inputSize` fixes them.
 * `classifier` is a Model (its weights are copied, fc weights reshaped) or a GraphBuilder (fresh
 * weights from `seed`, the same as a Model of that graph would get).
 */
export function convolutionalize(classifier: Model | GraphBuilder, options: ConvolutionalizeOptions = {}): Model {
  let graph: GraphBuilder;
  if (classifier instanceof Model) graph = classifier.graph;
  else if (classifier instanceof GraphBuilder) graph = classifier;
  else throw invalidArgument('convolutionalize classifier', 'a Model or a GraphBuilder', classifier);
  if (typeof options !== 'object' || options === null) throw invalidArgument('convolutionalize options', 'an object', options);
  const size = options.inputSize ?? null;
  if (size !== null && (!Array.isArray(size) || size.length !== 2 || size.some((d) => !Number.isSafeInteger(d) || d < 1))) {
    throw invalidArgument('convolutionalize inputSize', '[h, w] of positive integers or null', size);
  }
  if (classifier instanceof Model && options.seed !== undefined) {
    throw new FcnkitError('INVALID_ARGUMENT', 'convolutionalize: seed applies to a GraphBuilder; a Model brings its own weights');
  }
  const linears = graph.layers.filter((l) => l.type === 'linear');
  if (linears.length === 0) {
    throw new FcnkitError('INVALID_ARGUMENT', 'convolutionalize: the classifier has no fully connected (linear) layer; it is already fully convolutional');
  }

  const g = new GraphBuilder();
  const values = new Map<string, SymbolicTensor>();
  const v = (name: string): SymbolicTensor => values.get(name)!;
  for (const inp of graph.inputs) {
    const dims = inp.shape.map((d) => (typeof d === 'number' ? d : null));
    if (dims.length === 4) {
      dims[2] = size ? size[0] : null;
      dims[3] = size ? size[1] : null;
    }
    values.set(inp.name, g.input(inp.name, dims));
  }
  for (const l of graph.layers) values.set(l.name, rebuild(g, l, v));
  for (const o of graph.outputs) g.output(o.name, v(o.value));

  if (classifier instanceof Model) {
    const weights: Record<string, Tensor> = classifier.getWeights();
    for (const l of linears) {
      const p = l.params[0].name;
      weights[p] = weights[p].reshape([l.params[0].shape[0], l.inChannels!, ...l.kernel!]);
    }
    return new Model(g, { weights });
  }
  return new Model(g, { seed: options.seed ?? 0 });
}
