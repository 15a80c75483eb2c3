'use strict';
// Parameters of the FCN and U-Net models (names, shapes, initial values), getWeights/loadWeights
// round trips and their errors, bilinearKernel against the FCN reference formula, and the
// GraphSpec a model hands to the native core (crops made concrete, BN folded).
const t = require('tap');
const { fcnkit, seed, randTensor, normError } = require('./helpers');

const { models, bilinearKernel, Tensor, GraphBuilder, Model } = fcnkit;
t.comment(`seed ${seed} (FCNKIT_TEST_SEED=${seed} to replay)`);

const small = (variant, extra = {}) => models.fcn({ variant, widthMultiplier: 1 / 16, numClasses: 3, ...extra });

t.test('FCN parameters follow the Caffe layer names (full width, nothing allocated)', async (t) => {
  const p8 = models.fcn({ variant: '8s' }).parameters();
  const byName = Object.fromEntries(p8.map((p) => [p.name, p.shape]));
  t.same(byName['conv1_1.weight'], [64, 3, 3, 3]);
  t.same(byName['conv1_1.bias'], [64]);
  t.same(byName['conv3_3.weight'], [256, 256, 3, 3]);
  t.same(byName['conv5_3.weight'], [512, 512, 3, 3]);
  t.same(byName['fc6.weight'], [4096, 512, 7, 7]);
  t.same(byName['fc7.weight'], [4096, 4096, 1, 1]);
  t.same(byName['score_fr.weight'], [21, 4096, 1, 1]);
  t.same(byName['score_fr.bias'], [21]);
  t.same(byName['score_pool4.weight'], [21, 512, 1, 1]);
  t.same(byName['score_pool3.weight'], [21, 256, 1, 1]);
  t.same(byName['upscore2.weight'], [21, 21, 4, 4]);
  t.same(byName['upscore_pool4.weight'], [21, 21, 4, 4]);
  t.same(byName['upscore8.weight'], [21, 21, 16, 16]);
  t.notOk('upscore2.bias' in byName, 'deconvolutions have no bias');
  // 13 VGG convs + fc6 + fc7 + score_fr + 2 score_pool, weight and bias each, + 3 deconvs.
  t.equal(p8.length, 2 * 18 + 3);
  const vgg = ['1_1', '1_2', '2_1', '2_2', '3_1', '3_2', '3_3', '4_1', '4_2', '4_3', '5_1', '5_2', '5_3'].map((s) => `conv${s}`);
  const order = [...vgg, 'fc6', 'fc7', 'score_fr', 'upscore2', 'score_pool4', 'upscore_pool4', 'score_pool3', 'upscore8'];
  t.same([...new Set(p8.map((p) => p.name.split('.')[0]))], order, 'graph order');
  const total = p8.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
  // VGG16 convs 14,714,688; fc6 102,764,544; fc7 16,781,312; score_fr 86,037; score_pool4
  // 10,773; score_pool3 5,397; upscore2 and upscore_pool4 7,056 each; upscore8 112,896.
  t.equal(total, 134489759, 'FCN-8s VGG16 parameter count');

  const p32 = models.fcn({ variant: '32s', numClasses: 5 }).parameters();
  t.same(p32.find((p) => p.name === 'upscore.weight').shape, [5, 5, 64, 64]);
  t.equal(p32.length, 2 * 16 + 1);
  const p16 = models.fcn({ variant: '16s' }).parameters().map((p) => p.name);
  t.ok(p16.includes('upscore16.weight') && p16.includes('score_pool4.bias') && !p16.includes('score_pool3.weight'));
  const atonce = models.fcn({ variant: '8s-atonce' }).parameters().map((p) => p.name);
  t.same(atonce, p8.map((p) => p.name), '8s-atonce: the scale layers have no parameters');
});

t.test('U-Net parameter names', async (t) => {
  const names = models.unet({ inChannels: 1, numClasses: 2 }).parameters();
  const byName = Object.fromEntries(names.map((p) => [p.name, p.shape]));
  t.same(byName['down1.conv1.weight'], [64, 1, 3, 3]);
  t.same(byName['down1.conv2.bias'], [64]);
  t.same(byName['down5.conv2.weight'], [1024, 1024, 3, 3]);
  t.same(byName['up1.upconv.weight'], [1024, 512, 2, 2], 'up-convolution [in, out, 2, 2]');
  t.same(byName['up1.conv1.weight'], [512, 1024, 3, 3], 'after concat: 512 + 512 in');
  t.same(byName['up4.conv2.weight'], [64, 64, 3, 3]);
  t.same(byName['final.weight'], [2, 64, 1, 1]);
  t.equal(names.length, 5 * 4 + 4 * 6 + 2);
  const bn = Object.fromEntries(models.unet({ inChannels: 3, numClasses: 2, batchNorm: true, baseChannels: 8 }).parameters().map((p) => [p.name, p.shape]));
  t.same(bn['down1.bn1.running_var'], [8]);
  t.same(bn['up2.bn2.weight'], [32], 'up2 returns to level 3: 8 * 4 channels');
  t.notOk('down1.conv1.bias' in bn, 'a conv followed by BN has no bias');
  t.ok('up2.upconv.bias' in bn);
});

t.test('bilinearKernel: the FCN reference upsample_filt on the diagonal', async (t) => {
  const k = bilinearKernel(3, 4);
  t.same(k.shape, [3, 3, 4, 4]);
  // size 4: factor 2, centre 1.5: 1 - |i - 1.5| / 2 = [0.25, 0.75, 0.75, 0.25], outer product.
  const row = [0.25, 0.75, 0.75, 0.25];
  const filt = row.flatMap((a) => row.map((b) => a * b));
  t.same([...k.data.subarray(0, 16)], filt);
  t.same([...k.data.subarray(0, 4)], [0.0625, 0.1875, 0.1875, 0.0625]);
  t.same([...k.data.subarray(4, 8)], [0.1875, 0.5625, 0.5625, 0.1875]);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      const plane = [...k.data.subarray((i * 3 + j) * 16, (i * 3 + j + 1) * 16)];
      t.same(plane, i === j ? filt : new Array(16).fill(0), `[${i}, ${j}] ${i === j ? 'filter' : 'zero'}`);
    }
  }
  // size 3 (odd): factor 2, centre 1: [0.5, 1, 0.5].
  t.same([...bilinearKernel(1, 3).data], [0.25, 0.5, 0.25, 0.5, 1, 0.5, 0.25, 0.5, 0.25]);
  // size 16 (upscore8): factor 8, centre 7.5; the row sums to 8 (the stride).
  const k16 = bilinearKernel(1, 16).data;
  t.equal(k16[0], (1 - 7.5 / 8) ** 2);
  t.equal(k16[7 * 16 + 7], (1 - 0.5 / 8) ** 2);
  t.throws(() => bilinearKernel(0, 4), { code: 'INVALID_ARGUMENT' });
  // The models' deconvolutions start as exactly this.
  const w = small('8s').getWeights();
  t.same([...w['upscore2.weight'].data], [...bilinearKernel(3, 4).data]);
  t.same([...w['upscore8.weight'].data], [...bilinearKernel(3, 16).data]);
});

t.test('initial weights: seeded He normal, small random biases', async (t) => {
  const a = small('32s', { seed: 1 }).getWeights();
  const b = small('32s', { seed: 1 }).getWeights();
  const c = small('32s', { seed: 2 }).getWeights();
  t.same([...a['conv2_1.weight'].data], [...b['conv2_1.weight'].data], 'same seed, same weights');
  t.not(a['conv2_1.weight'].data[0], c['conv2_1.weight'].data[0], 'another seed, other weights');
  // He: std = sqrt(2 / fan_in); fc6 at 1/16 width: fan_in 32 * 7 * 7.
  const w = a['fc6.weight'].data;
  const mean = w.reduce((s, v) => s + v, 0) / w.length;
  const std = Math.sqrt(w.reduce((s, v) => s + (v - mean) ** 2, 0) / w.length);
  const want = Math.sqrt(2 / (32 * 49));
  t.ok(Math.abs(std / want - 1) < 0.02, `fc6 std ${std.toFixed(5)} vs He ${want.toFixed(5)}`);
  t.ok(Math.abs(mean) < 3 * want / Math.sqrt(w.length), `mean ${mean.toExponential(2)} ~ 0`);
  const bias = a['conv1_1.bias'].data;
  t.ok(bias.every((v) => v !== 0 && Math.abs(v) < 0.06), 'biases are small and non-zero');
  // A parameter's stream depends on (seed, name) only: the 32s and 8s nets share conv1_1.
  t.same([...small('8s', { seed: 1 }).getWeights()['conv1_1.weight'].data], [...a['conv1_1.weight'].data]);
});

t.test('getWeights / loadWeights round trip changes the outputs', async (t) => {
  const a = small('8s', { seed: 1 });
  const b = small('8s', { seed: 2 });
  const x = randTensor([1, 3, 40, 33]);
  const ya = await a.run(x);
  const yb = await b.run(x);
  t.ok(normError(yb.data, ya.data) > 1e-2, 'different seeds, different outputs');
  const res = await b.loadWeights(a.getWeights());
  t.same(res, { missing: [], unexpected: [] });
  const yb2 = await b.run(x);
  t.same([...yb2.data], [...ya.data], 'after loading A\'s weights B computes what A does (the cached plan was replaced)');
  // getWeights returns copies: changing them changes nothing until loaded.
  const w = b.getWeights();
  w['score_fr.bias'].data.fill(5);
  t.same([...(await b.run(x)).data], [...ya.data], 'editing a copy changes nothing');
  const r = await b.loadWeights({ 'score_fr.bias': w['score_fr.bias'] }, { strict: false });
  t.ok(r.missing.includes('conv1_1.weight') && !r.missing.includes('score_fr.bias'));
  t.same(r.unexpected, []);
  const yb3 = await b.run(x);
  t.ok(normError(yb3.data, ya.data) > 1e-3, 'a non-strict subset load changes the outputs');
  t.equal(b.getWeights()['score_fr.bias'].data[0], 5);
  // The loaded tensors were copied: editing the source afterwards changes nothing.
  w['score_fr.bias'].data.fill(-1);
  t.same([...(await b.run(x)).data], [...yb3.data]);
  a.dispose();
  b.dispose();
});

t.test('loadWeights errors name the parameter, change nothing', async (t) => {
  const m = small('16s', { seed: 3 });
  const x = randTensor([1, 3, 20, 20]);
  const before = await m.run(x);
  const good = m.getWeights();

  const missing = { ...good };
  delete missing['score_pool4.weight'];
  await t.rejects(m.loadWeights(missing), { code: 'BAD_MODEL', message: /missing parameter 'score_pool4.weight' \[3, 32, 1, 1\]/ });

  await t.rejects(m.loadWeights({ ...good, 'conv9_9.weight': good['conv1_1.weight'] }), {
    code: 'BAD_MODEL', message: /'conv9_9.weight' is not a parameter of this model/,
  });
  const r = await m.loadWeights({ ...good, 'conv9_9.weight': good['conv1_1.weight'] }, { strict: false });
  t.same(r.unexpected, ['conv9_9.weight'], 'non-strict: unknown names are reported and ignored');

  const wrong = { ...good, 'fc6.weight': new Tensor(new Float32Array(256 * 32 * 5 * 5), [256, 32, 5, 5]) };
  await t.rejects(m.loadWeights(wrong), {
    code: 'SHAPE_MISMATCH', message: /parameter 'fc6.weight' has shape \[256, 32, 7, 7\] but received \[256, 32, 5, 5\]/,
  });
  await t.rejects(m.loadWeights({ 'fc6.weight': wrong['fc6.weight'] }, { strict: false }), { code: 'SHAPE_MISMATCH' });
  await t.rejects(m.loadWeights({ ...good, 'fc7.bias': new Tensor(new Int32Array(256), [256]) }), { code: 'INVALID_ARGUMENT', message: /fc7.bias/ });
  await t.rejects(m.loadWeights(null), { code: 'INVALID_ARGUMENT' });
  await t.rejects(m.loadWeights(good, { strict: 'yes' }), { code: 'INVALID_ARGUMENT' });
  t.same([...(await m.run(x)).data], [...before.data], 'failed loads changed nothing');

  // The same checks guard weights given at construction.
  const g = new GraphBuilder();
  g.output('y', g.conv2d('c', g.input('x', [1, 2, null, null]), { outChannels: 3, kernel: 1 }));
  t.throws(() => new Model(g, { weights: { 'c.weight': new Tensor(new Float32Array(6), [3, 2, 1, 1]) } }), {
    code: 'BAD_MODEL', message: /missing parameter 'c.bias' \[3\]/,
  });
});

t.test('the GraphSpec per input size: concrete crops, merged conv/BN/ReLU, no dropout', async (t) => {
  const m = small('8s');
  const spec = m.graphSpec([1, 3, 500, 500]);
  const node = (name) => spec.nodes.find((n) => n.name === name);
  t.same(node('score_pool4c').attrs, { offset: [5, 5], size: [34, 34] });
  t.same(node('score_pool3c').attrs, { offset: [9, 9], size: [70, 70] });
  t.same(node('score').attrs, { offset: [31, 31], size: [500, 500] });
  t.same(m.graphSpec([1, 3, 227, 311]).nodes.find((n) => n.name === 'score').attrs, { offset: [31, 31], size: [227, 311] });
  t.equal(node('conv1_1').attrs.activation, 'relu', 'ReLU fused into the conv');
  t.same(node('conv1_1').attrs.pads, [100, 100, 100, 100]);
  t.same(node('pool1').attrs, { kernel: [2, 2], stride: [2, 2], dilation: [1, 1], pads: [0, 0, 0, 0], ceilMode: true });
  t.notOk(spec.nodes.some((n) => /drop|relu/.test(n.name) || n.type === 'relu'), 'no dropout or separate relu nodes');
  t.same(node('upscore2').inputs, ['score_fr', 'upscore2.weight'], 'no bias');
  t.same(spec.inputs, [{ name: 'input', shape: [null, 3, null, null] }]);
  t.same(spec.outputs, ['score']);

  const at = models.fcn({ variant: '8s-atonce', widthMultiplier: 1 / 16 }).graphSpec([1, 3, 64, 64]);
  const scale = at.nodes.find((n) => n.name === 'scale_pool4');
  t.equal(scale.type, 'mul');
  t.equal(at.constants[scale.inputs[1]].data[0], Math.fround(0.01));
  t.equal(at.constants[at.nodes.find((n) => n.name === 'scale_pool3').inputs[1]].data[0], Math.fround(0.0001));

  const u = models.unet({ inChannels: 1, numClasses: 2, baseChannels: 4, batchNorm: true, seed: 2 });
  const us = u.graphSpec([1, 1, 572, 572]);
  t.same(us.nodes.filter((n) => n.type === 'crop').map((n) => n.attrs.offset[0]), [4, 16, 40, 88], 'U-Net centre-crop offsets at 572');
  t.notOk(us.nodes.some((n) => n.type === 'relu' || n.type === 'add' || n.type === 'mul'), 'BN folded and ReLU fused everywhere');
  const c1 = us.nodes.find((n) => n.name === 'down1.conv1');
  t.same(c1.outputs, ['down1.relu1']);
  t.equal(c1.attrs.activation, 'relu');
  // Folding: w' = w * gamma / sqrt(var + eps), b' = beta - mean * gamma / sqrt(var + eps).
  const w = u.getWeights();
  const wk = w['down1.conv1.weight'].data;
  const fw = us.constants[c1.inputs[1]].data;
  const fb = us.constants[c1.inputs[2]].data;
  const s = 1 / Math.sqrt(1 + 1e-5);
  t.ok(Math.abs(fw[0] - wk[0] * s) < 1e-7 && fb[0] === 0, 'default BN (gamma 1, var 1): scaled by 1/sqrt(1 + eps)');
  // U-Net 'same' without crops: one spec for all sizes.
  const same = models.unet({ inChannels: 1, numClasses: 2, baseChannels: 4, padding: 'same' });
  t.same(same.graphSpec([1, 1, 32, 32]).nodes.map((n) => n.type), same.graphSpec([1, 1, 64, 48]).nodes.map((n) => n.type));
});
