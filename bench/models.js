'use strict';
// npm run bench:models — full-width FCN-8s at 500×500 and U-Net 572×572 ('valid', 64 base
// channels) in fcnkit and in onnxruntime-node on the same model exported to ONNX (same graph,
// same weights), 2 threads each, each engine in its own child process so that peak RSS is per
// engine. Warm-up, then the median of N runs. Not a test: prints a table.
//   node bench/models.js [--runs N] [--only fcn8s|unet] [--width M] [--json]
// (--width scales every hidden width, for a quick try of the script; the figures are for 1.)
// The fcnkit child builds the model from its seed, is measured, then writes the ONNX file to a
// temp dir; the onnxruntime child loads that file and also reports its normalised error against
// fcnkit's output (a check that both ran the same thing).
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const RUNS = Number(opt('runs', 5));
const ONLY = opt('only', '');
const WIDTH = Number(opt('width', 1));
const CASES = [
  ['fcn8s', 'FCN-8s VGG16 500×500 (21 classes)'],
  ['unet', "U-Net 572×572 'valid', 64 base (1 → 2)"],
];

function child(engine, name, dir) {
  const env = { ...process.env, FCNKIT_THREADS: '2', OMP_NUM_THREADS: '2' };
  const r = spawnSync(process.execPath, [path.join(__dirname, 'models-child.js'), engine, name, dir, String(RUNS), String(WIDTH)], {
    env, encoding: 'utf8', maxBuffer: 1 << 24, stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = (r.stdout || '').split('\n').find((l) => l.startsWith('RESULT '));
  if (r.status !== 0 || !line) throw new Error(`${engine} child for ${name} failed (status ${r.status}, signal ${r.signal})\n${r.stdout}`);
  return JSON.parse(line.slice(7));
}

const mib = (kb) => kb / 1024;

function main() {
  if (!(RUNS >= 1)) throw new Error('--runs must be >= 1');
  if (!(WIDTH > 0)) throw new Error('--width must be > 0');
  const cpu = os.cpus();
  console.log(`bench:models — ${new Date().toISOString().slice(0, 10)}, ${cpu.length} CPUs (${cpu[0]?.model ?? '?'}), node ${process.version}`);
  console.log(`2 threads per engine, each in its own process; median of ${RUNS} runs after a warm-up` +
    `${WIDTH === 1 ? '' : `; widthMultiplier ${WIDTH} (NOT the full-width models)`}\n`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fcnkit-bench-'));
  const rows = [];
  try {
    for (const [name, label] of CASES) {
      if (ONLY && name !== ONLY) continue;
      const f = child('fcnkit', name, dir);
      const o = child('ort', name, dir);
      fs.rmSync(path.join(dir, `${name}.onnx`), { force: true });
      const row = {
        name, label, fcnkit: f, ort: o,
        speed: o.medianMs / f.medianMs,
        memory: f.peakRssKb / o.peakRssKb,
      };
      rows.push(row);
      console.log(label);
      for (const [who, r] of [[`fcnkit ${f.version} (${f.isa})`, f], [`onnxruntime-node ${o.version}`, o]]) {
        console.log(`  ${who.padEnd(34)} median ${r.medianMs.toFixed(0).padStart(6)} ms  (runs ${r.times.map((t) => t.toFixed(0)).join(', ')}; ` +
          `warm-up ${r.warmupMs.toFixed(0)} ms, setup ${(r.setupMs / 1000).toFixed(1)} s)  peak RSS ${mib(r.peakRssKb).toFixed(0).padStart(5)} MiB`);
      }
      console.log(`  speed fcnkit vs onnxruntime ${row.speed.toFixed(2)}x (target >= 1.0), peak RSS ratio ${row.memory.toFixed(2)} (target <= 0.8); ` +
        `output shape ${f.outShape.join('×')}, normError ort vs fcnkit ${o.normErrorVsFcnkit.toExponential(1)}\n`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  if (args.includes('--json')) console.log(JSON.stringify(rows));
}

try {
  main();
} catch (err) {
  console.error(err);
  process.exit(1);
}
