'use strict';
// Shapes of the full-width FCN and U-Net graphs by shape inference alone (no weights, no native
// work): hand-computed sizes, Caffe's crop offsets re-derived from the built layers, output H×W
// equal to the input's for every size, symbolic dims against concrete inference, and the errors.
const t = require('tap');
const { fcnkit } = require('./helpers');

const { models, unetValidInputSize, GraphBuilder, FcnkitError } = fcnkit;

const hw = (shape) => shape.slice(2);

t.test('FCN-8s at 500×500: every stage by hand', async (t) => {
  const m = models.fcn({ variant: '8s' });
  const s = m.inferShapes([1, 3, 500, 500]);
  // conv1_1 pads 100: 500 + 200 - 2 = 698; Caffe pools round up: 349, 175, 88, 44, 22.
  t.same(s.conv1_1, [1, 64, 698, 698]);
  t.same(s.conv1_2, [1, 64, 698, 698]);
  t.same(s.pool1, [1, 64, 349, 349]);
  t.same(s.pool2, [1, 128, 175, 175]);
  t.same(s.pool3, [1, 256, 88, 88]);
  t.same(s.pool4, [1, 512, 44, 44]);
  t.same(s.pool5, [1, 512, 22, 22]);
  // fc6: 7×7 without padding: 22 - 6 = 16.
  t.same(s.fc6, [1, 4096, 16, 16]);
  t.same(s.fc7, [1, 4096, 16, 16]);
  t.same(s.score_fr, [1, 21, 16, 16]);
  // Deconvolutions: (in - 1) * stride + kernel.
  t.same(s.upscore2, [1, 21, 34, 34]); // 15 * 2 + 4
  t.same(s.score_pool4, [1, 21, 44, 44]);
  t.same(s.score_pool4c, [1, 21, 34, 34]); // offset 5: 5 + 34 <= 44
  t.same(s.fuse_pool4, [1, 21, 34, 34]);
  t.same(s.upscore_pool4, [1, 21, 70, 70]); // 33 * 2 + 4
  t.same(s.score_pool3, [1, 21, 88, 88]);
  t.same(s.score_pool3c, [1, 21, 70, 70]); // offset 9: 9 + 70 <= 88
  t.same(s.fuse_pool3, [1, 21, 70, 70]);
  t.same(s.upscore8, [1, 21, 568, 568]); // 69 * 8 + 16; offset 31: 31 + 500 <= 568
  t.same(s.score, [1, 21, 500, 500]);
  t.notOk('drop6' in s, 'dropout is no layer at inference');
  t.same(m.outputShape([1, 3, 500, 500]), [1, 21, 500, 500]);
});

t.test('FCN-32s and FCN-16s at 500×500 and 384×384', async (t) => {
  const m32 = models.fcn({ variant: '32s' });
  const m16 = models.fcn({ variant: '16s' });
  let s = m32.inferShapes([1, 3, 500, 500]);
  t.same(s.upscore, [1, 21, 544, 544]); // 15 * 32 + 64; 19 + 500 <= 544
  t.same(s.score, [1, 21, 500, 500]);
  s = m16.inferShapes([1, 3, 500, 500]);
  t.same(s.upscore16, [1, 21, 560, 560]); // 33 * 16 + 32; 27 + 500 <= 560
  t.same(s.score, [1, 21, 500, 500]);
  s = m32.inferShapes([2, 3, 384, 384]);
  t.same(s.pool5, [2, 512, 19, 19]); // 582 291 146 73 37 19
  t.same(s.fc6, [2, 4096, 13, 13]);
  t.same(s.upscore, [2, 21, 448, 448]);
  t.same(s.score, [2, 21, 384, 384]);
  s = m16.inferShapes([1, 3, 384, 384]);
  t.same(hw(s.upscore2), [28, 28]);
  t.same(hw(s.upscore16), [464, 464]);
  t.same(hw(s.score), [384, 384]);
});

t.test('fc6 score map grows with the image (convolutionalised classifier)', async (t) => {
  const m = models.fcn({ variant: '32s' });
  // ceil((H + 6) / 32) cells: the classifier's 7×7 window slides with stride 32.
  t.same(hw(m.inferShapes([1, 3, 224, 224]).fc6), [8, 8]);
  t.same(hw(m.inferShapes([1, 3, 384, 384]).fc6), [13, 13]);
  t.same(hw(m.inferShapes([1, 3, 500, 500]).fc6), [16, 16]);
  t.same(hw(m.inferShapes([1, 3, 227, 311]).fc6), [8, 10]);
  t.same(hw(m.inferShapes([1, 3, 1, 1]).fc6), [1, 1], 'pad 100 lets even a 1×1 image reach fc6');
});

t.test('odd, non-square sizes: 227×311', async (t) => {
  for (const variant of ['32s', '16s', '8s', '8s-atonce']) {
    const s = models.fcn({ variant }).inferShapes([1, 3, 227, 311]);
    // H: 425 213 107 54 27 14; W: 509 255 128 64 32 16.
    t.same(hw(s.pool5), [14, 16], `${variant} pool5`);
    t.same(hw(s.fc6), [8, 10], `${variant} fc6`);
    t.same(s.score, [1, 21, 227, 311], `${variant} score`);
  }
});

t.test('every FCN variant returns the input H×W for every size from 1 to 600', async (t) => {
  for (const variant of ['32s', '16s', '8s', '8s-atonce']) {
    const m = models.fcn({ variant, numClasses: 7 });
    const bad = [];
    for (let h = 1; h <= 600; h++) {
      const w = 601 - h;
      const out = m.outputShape([1, 3, h, w]);
      if (out.join() !== [1, 7, h, w].join()) bad.push(`${h}×${w} -> ${out}`);
    }
    t.same(bad, [], `${variant}: all 600 sizes`);
  }
});

/**
 * Caffe's coord_map, recomputed from the built layers: each value's coordinate as a * (image
 * coordinate) + b. conv/pool: (y + pad - (k - 1) / 2 * dil) / stride; deconv: stride * y +
 * (k - 1) / 2 * dil - pad; crop: y - offset. The offset a crop needs is b(x) - b(reference).
 */
function coordMaps(graph) {
  const map = new Map(graph.inputs.map((i) => [i.name, { a: 1, b: 0 }]));
  const needed = {};
  for (const l of graph.layers) {
    const x = map.get(l.inputs[0]);
    const at = l.attrs;
    if (l.type === 'conv2d' || l.type === 'maxPool2d' || l.type === 'avgPool2d') {
      const k = (l.kernel ?? at.kernel)[0];
      const s = at.stride[0];
      const d = at.dilation[0];
      map.set(l.name, { a: x.a / s, b: (x.b + at.pads[0] - ((k - 1) / 2) * d) / s });
    } else if (l.type === 'convTranspose2d') {
      const k = l.kernel[0];
      const s = at.stride[0];
      map.set(l.name, { a: x.a * s, b: x.b * s + ((k - 1) / 2) * at.dilation[0] - at.pads[0] });
    } else if (l.type === 'crop') {
      const ref = map.get(l.refs[0]);
      needed[l.name] = { scaleX: x.a, scaleRef: ref.a, offset: x.b - ref.b };
      map.set(l.name, ref);
    } else {
      map.set(l.name, x);
    }
  }
  return needed;
}

t.test("crop offsets equal those Caffe's coord_map derives from the layers", async (t) => {
  const expected = {
    '32s': { score: 19 },
    '16s': { score_pool4c: 5, score: 27 },
    '8s': { score_pool4c: 5, score_pool3c: 9, score: 31 },
    '8s-atonce': { score_pool4c: 5, score_pool3c: 9, score: 31 },
  };
  for (const [variant, offsets] of Object.entries(expected)) {
    const m = models.fcn({ variant });
    const needed = coordMaps(m.graph);
    t.same(Object.keys(needed).sort(), Object.keys(offsets).sort(), `${variant}: crop layers`);
    for (const [name, off] of Object.entries(offsets)) {
      const layer = m.graph.layers.find((l) => l.name === name);
      t.same(layer.crop.offset, [off, off], `${variant} ${name}: the offset in the graph`);
      t.equal(needed[name].scaleX, needed[name].scaleRef, `${variant} ${name}: same grid spacing`);
      t.equal(needed[name].offset, off, `${variant} ${name}: coord_map gives ${off}`);
    }
  }
});

t.test('symbolic dims evaluate to the concrete shapes', async (t) => {
  const cases = [
    [models.fcn({ variant: '8s' }).graph, [[572, 572], [1, 1], [227, 311], [188, 1000]]],
    [models.fcn({ variant: '16s' }).graph, [[2, 3], [33, 64], [500, 375]]],
    [models.unet({ inChannels: 1, numClasses: 2 }).graph, [[572, 572], [188, 1004], [301, 255]]],
    [models.unet({ inChannels: 1, numClasses: 2, padding: 'same', levels: 4 }).graph, [[64, 16], [8, 800]]],
  ];
  let checked = 0;
  for (const [g, sizes] of cases) {
    for (const [h, w] of sizes) {
      const concrete = g.inferShapes([2, g.inputs[0].shape[1], h, w]);
      for (const l of g.layers) {
        const sym = g.shapeOf(l.name).map((d) => (typeof d === 'number' ? d : d.evaluate({ N: 2, H: h, W: w })));
        if (sym.join() !== concrete[l.name].join()) t.fail(`${l.name} at ${h}×${w}: ${g.shapeOf(l.name).map(String)} -> ${sym} vs ${concrete[l.name]}`);
        checked++;
      }
    }
  }
  t.ok(checked > 200, `${checked} values agree`);
  const out = models.fcn({ variant: '8s' }).outputs[0].shape.map(String);
  t.same(out, ['N', '21', 'H', 'W'], 'the FCN output is symbolically [N, 21, H, W]');
});

t.test('U-Net valid: 572×572 -> 388×388 stage by stage', async (t) => {
  const m = models.unet({ inChannels: 1, numClasses: 2 });
  const s = m.inferShapes([1, 1, 572, 572]);
  const sizes = (names) => names.map((n) => s[n][2]);
  t.same(sizes(['down1.conv2', 'down2.conv2', 'down3.conv2', 'down4.conv2', 'down5.conv2']), [568, 280, 136, 64, 28]);
  t.same(sizes(['down1.pool', 'down2.pool', 'down3.pool', 'down4.pool']), [284, 140, 68, 32]);
  t.same(sizes(['up1.upconv', 'up2.upconv', 'up3.upconv', 'up4.upconv']), [56, 104, 200, 392]);
  t.same(sizes(['up1.conv2', 'up2.conv2', 'up3.conv2', 'up4.conv2']), [52, 100, 196, 388]);
  t.same(s['down5.conv2'][1], 1024);
  t.same(s['up1.upconv'][1], 512, 'up-convolutions halve the channels');
  t.same(s['up1.concat'], [1, 1024, 56, 56], 'copy-and-crop: cropped skip + upsampled');
  t.same(s['up4.crop'], [1, 64, 392, 392]);
  t.same(s.score, [1, 2, 388, 388]);
  t.same(m.outputShape([1, 1, 572, 572]), [1, 2, 388, 388]);
});

t.test('U-Net same: output = input size', async (t) => {
  const m = models.unet({ inChannels: 3, numClasses: 4, padding: 'same', batchNorm: true });
  t.same(m.outputShape([1, 3, 256, 320]), [1, 4, 256, 320]);
  t.same(m.outputShape([2, 3, 16, 48]), [2, 4, 16, 48]);
  const m3 = models.unet({ inChannels: 1, numClasses: 1, padding: 'same', levels: 3 });
  t.same(m3.outputShape([1, 1, 12, 8]), [1, 1, 12, 8]);
  const err = t.throws(() => m.outputShape([1, 3, 250, 320]));
  t.equal(err.code, 'SHAPE_MISMATCH');
  t.match(err.message, /height 250: the nearest legal sizes are 240 and 256/);
  const err2 = t.throws(() => m.outputShape([1, 3, 64, 10]));
  t.match(err2.message, /width 10: the smallest legal size is 16/);
});

t.test('unetValidInputSize: hand-computed legal sizes', async (t) => {
  // 5 levels: input = 16 k + 60 with a bottleneck input k >= 8 (k = 7 would leave 0 pixels after
  // the third up-convolution block): 188, 204, ..., 572 (k = 32), ...
  t.equal(unetValidInputSize(0), 188);
  t.equal(unetValidInputSize(1), 188);
  t.equal(unetValidInputSize(188), 188);
  t.equal(unetValidInputSize(189), 204);
  t.equal(unetValidInputSize(500), 508);
  t.equal(unetValidInputSize(572), 572);
  t.equal(unetValidInputSize(573), 588);
  // 1 level: two 3×3 convs: any size >= 5.
  t.equal(unetValidInputSize(0, { levels: 1 }), 5);
  t.equal(unetValidInputSize(7, { levels: 1 }), 7);
  // 2 levels: input = 2 s + 4, bottleneck s >= 7: 18, 20, ...
  t.equal(unetValidInputSize(0, { levels: 2 }), 18);
  t.equal(unetValidInputSize(19, { levels: 2 }), 20);
  // 3 levels: input = 4 s + 12, s >= 8: 44, 48, ...
  t.equal(unetValidInputSize(0, { levels: 3 }), 44);
  t.equal(unetValidInputSize(45, { levels: 3 }), 48);
  for (const levels of [1, 2, 3, 4, 5, 6]) {
    const m = models.unet({ inChannels: 1, numClasses: 1, levels, baseChannels: 2 });
    const s = unetValidInputSize(100, { levels });
    t.ok(m.outputShape([1, 1, s, s])[2] >= 1, `levels ${levels}: ${s} runs`);
  }
  t.throws(() => unetValidInputSize(-1), { code: 'INVALID_ARGUMENT' });
  t.throws(() => unetValidInputSize(10, { levels: 0 }), { code: 'INVALID_ARGUMENT' });
});

t.test('U-Net valid: illegal sizes name the nearest legal ones', async (t) => {
  const m = models.unet({ inChannels: 1, numClasses: 2 });
  let err = t.throws(() => m.inferShapes([1, 1, 500, 572]));
  t.equal(err.code, 'SHAPE_MISMATCH');
  t.match(err.message, /height 500: the nearest legal sizes are 492 and 508/);
  t.notMatch(err.message, /width/);
  err = t.throws(() => m.outputShape([1, 1, 100, 100]));
  t.match(err.message, /height 100: the smallest legal size is 188/);
  t.match(err.message, /width 100: the smallest legal size is 188/);
});

t.test('build-time and inference-time errors name the layer', async (t) => {
  const g = new GraphBuilder();
  const x = g.input('input', [1, 3, null, null]);
  const a = g.conv2d('conv1', x, { outChannels: 128, kernel: 3, padding: 1 });
  let err = t.throws(() => g.conv2d('conv3_1', a, { outChannels: 256, kernel: 3, inChannels: 256 }));
  t.equal(err.code, 'SHAPE_MISMATCH');
  t.match(err.message, "conv2d 'conv3_1': expected 256 input channels but received 128");
  const b = g.conv2d('conv2', x, { outChannels: 64, kernel: 3, padding: 1 });
  err = t.throws(() => g.add('fuse', a, b));
  t.equal(err.code, 'SHAPE_MISMATCH');
  t.match(err.message, /add 'fuse': shapes \[1, 128, H, W\] and \[1, 64, H, W\] cannot be broadcast/);
  err = t.throws(() => g.concat('cat', [g.crop('a4', a, { like: [4, 4] }), g.crop('b5', b, { like: [5, 5] })], 1));
  t.equal(err.code, 'SHAPE_MISMATCH');
  t.match(err.message, /concat 'cat': input 1 \[1, 64, 5, 5\] differs from input 0 \[1, 128, 4, 4\] on axis 2/);
  err = t.throws(() => g.conv2d('conv1', x, { outChannels: 1, kernel: 1 }));
  t.equal(err.code, 'INVALID_ARGUMENT');
  err = t.throws(() => g.conv2d('c', x, { outChannels: 1, kernel: 1, stride: 0 }));
  t.equal(err.code, 'INVALID_ARGUMENT');
  t.match(err.message, /conv2d 'c'/);

  // Spatial sizes are only known at inference: errors then.
  const big = g.conv2d('big', x, { outChannels: 2, kernel: 7 });
  g.output('out', big);
  err = t.throws(() => g.inferShapes([1, 3, 5, 9]));
  t.equal(err.code, 'SHAPE_MISMATCH');
  t.match(err.message, /conv2d 'big': input 5×9/);
  err = t.throws(() => g.inferShapes([1, 4, 9, 9]));
  t.equal(err.code, 'SHAPE_MISMATCH');
  t.match(err.message, /input 'input': expected shape \[1, 3, H, W\] but received \[1, 4, 9, 9\]/);
  t.throws(() => g.inferShapes([1, 3, 0, 9]), { code: 'INVALID_ARGUMENT' });

  const g2 = new GraphBuilder();
  const y = g2.input('y', [1, 2, null, null]);
  g2.output('c', g2.crop('c', y, { like: [6, 6], offset: [2, 1] }));
  err = t.throws(() => g2.inferShapes([1, 2, 7, 9]));
  t.match(err.message, /crop 'c': offset \[2, 1\] \+ size \[6, 6\] reaches \[8, 7\], beyond the input's spatial size \[7, 9\]/);

  t.throws(() => models.fcn({ variant: '4s' }), { code: 'INVALID_ARGUMENT' });
  t.throws(() => models.fcn({ variant: '8s', backbone: 'resnet50' }), { code: 'INVALID_ARGUMENT' });
  t.throws(() => models.unet({ inChannels: 1, numClasses: 2, padding: 'full' }), { code: 'INVALID_ARGUMENT' });
  t.ok(err instanceof FcnkitError);
});

t.test('widthMultiplier scales every hidden width, rounded, at least 1', async (t) => {
  const s = models.fcn({ variant: '8s', widthMultiplier: 1 / 16, numClasses: 5 }).inferShapes([1, 3, 64, 64]);
  t.same([s.conv1_1[1], s.conv2_1[1], s.conv3_1[1], s.conv4_1[1], s.conv5_1[1], s.fc6[1], s.fc7[1]], [4, 8, 16, 32, 32, 256, 256]);
  t.equal(s.score[1], 5);
  const tiny = models.fcn({ variant: '32s', widthMultiplier: 0.001 }).inferShapes([1, 3, 10, 10]);
  t.same([tiny.conv1_1[1], tiny.conv5_3[1], tiny.fc6[1]], [1, 1, 4]);
  const u = models.unet({ inChannels: 1, numClasses: 2, baseChannels: 64, widthMultiplier: 0.125 }).inferShapes([1, 1, 188, 188]);
  t.same([u['down1.conv1'][1], u['down5.conv2'][1], u['up1.upconv'][1]], [8, 128, 64]);
});
