'use strict';
// `fcnkit serve` with an instance model (the Mask R-CNN fixture, NET.safetensors + NET.json as
// `fcnkit segment` takes it): format=json holds the same COCO instances as the CLI's
// <name>.instances.json for the same photo, format=labels the same 16-bit instance map as its
// <name>.instances.png; color and cutout are INVALID_ARGUMENT.
const t = require('tap');
const fs = require('node:fs');
const path = require('node:path');
const sharp = require('sharp');
const { fcnkit: run, tmpdir } = require('./helpers/cli');
const { encodePng } = require('./helpers/png');
const { randInt } = require('./helpers');
const { startServer, postImage } = require('./helpers/serve');

const dir = path.join(__dirname, 'fixtures/maskrcnn');

t.test('a Mask R-CNN: instances as the CLI gives them', { timeout: 600000 }, async (t) => {
  const ref = JSON.parse(fs.readFileSync(path.join(dir, 'reference.json'), 'utf8'));
  const pixels = fs.readFileSync(path.join(dir, 'images.bin'));
  const tmp = tmpdir(t, 'fcnkit-serve-mrcnn-');
  const model = path.join(tmp, 'net.safetensors');
  fs.copyFileSync(path.join(dir, 'small-maskrcnn.safetensors'), model);
  const cfg = ref.config;
  fs.writeFileSync(path.join(tmp, 'net.json'), JSON.stringify({
    architecture: 'maskrcnn_resnet50_fpn', numClasses: cfg.numClasses, classes: ['__background__', 'disc', 'box'],
    minSize: cfg.minSize, maxSize: cfg.maxSize, bnEps: cfg.bnEps, channels: cfg.architecture,
  }));
  // One of the fixture's images, picked at random.
  const pick = randInt(0, ref.images.length - 1);
  let offset = 0;
  for (let i = 0; i < pick; i++) offset += ref.images[i].width * ref.images[i].height * 3;
  const { width: w, height: h } = ref.images[pick];
  const photo = encodePng({ width: w, height: h, colorType: 2, data: pixels.subarray(offset, offset + w * h * 3) });
  const file = path.join(tmp, 'photo.png');
  fs.writeFileSync(file, photo);

  const out = path.join(tmp, 'out');
  const cli = await run(['segment', '--model', model, '--out', out, '--threads', '1', file], { timeout: 300000 });
  t.equal(cli.code, 0, cli.stderr);
  const cliInstances = JSON.parse(fs.readFileSync(path.join(out, 'photo.instances.json'), 'utf8'));

  const { url } = await startServer(t, ['--model', model, '--threads', '1']);
  const m = (await (await fetch(`${url}/v1/models`)).json()).models[0];
  t.match(m, { instances: true, classes: 3, formats: ['labels', 'overlay', 'json'] });

  const json = await (await postImage(url, photo, { format: 'json' })).json();
  t.same([json.width, json.height], [w, h]);
  t.same(json.instances.map(({ image_id, ...rest }) => rest), cliInstances.map(({ image_id, ...rest }) => rest),
    `the same ${cliInstances.length} instances as fcnkit segment's JSON`);

  const labels = Buffer.from(await (await postImage(url, photo, { format: 'labels' })).arrayBuffer());
  const meta = await sharp(labels).metadata();
  t.same([meta.width, meta.height, meta.depth, meta.channels], [w, h, 'ushort', 1], '16-bit grey instance map');
  const mine = await sharp(labels).raw({ depth: 'ushort' }).toBuffer();
  const theirs = await sharp(path.join(out, 'photo.instances.png')).raw({ depth: 'ushort' }).toBuffer();
  t.ok(mine.equals(theirs), 'the same instance map as fcnkit segment');

  const ov = await postImage(url, photo, { format: 'overlay' });
  t.equal(ov.status, 200);
  t.same([(await sharp(Buffer.from(await ov.arrayBuffer())).metadata()).width], [w], 'overlay at the photo size');
  for (const format of ['color', 'cutout']) {
    const r = await postImage(url, photo, { format });
    t.equal(r.status, 400, `${format}: 400`);
    t.equal((await r.json()).error.code, 'INVALID_ARGUMENT');
  }
});
