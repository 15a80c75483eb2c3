'use strict';
// One fuzz target under libFuzzer with JS coverage (started by scripts/fuzz.js):
//   node fuzz/run.js TARGET [libFuzzer flags and corpus folders...]
// dist/ is instrumented as it loads (fuzz/instrument.js); the engine is build-fuzz/fuzz_engine.node.
const path = require('node:path');
const instrument = require('./instrument');

const root = path.join(__dirname, '..');
const engine = require(path.join(root, 'build-fuzz', 'fuzz_engine.node'));
globalThis.__fcnCov = engine.counters;
instrument.install(path.join(root, 'dist'));

const [name, ...args] = process.argv.slice(2);
const { targets, check } = require('./targets');
const target = targets[name];
if (!target) {
  console.error(`fuzz/run.js: unknown target '${name}' (targets: ${Object.keys(targets).join(', ')})`);
  process.exit(2);
}
// Load everything the target reaches before libFuzzer sizes its counter region.
try {
  target(new Uint8Array(0));
} catch (err) {
  if (!check(err)) throw err;
}

engine.run(args, instrument.counterCount(), (bytes) => {
  try {
    target(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
  } catch (err) {
    if (check(err)) return;
    throw err;
  }
});
