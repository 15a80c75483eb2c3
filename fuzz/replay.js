'use strict';
// Replays inputs through a fuzz target without the fuzzer (fuzz/targets.js): every file must
// parse or throw an FcnkitError with a listed code. Used by test/fuzz-regressions.test.js.
//   node fuzz/replay.js TARGET FILE_OR_FOLDER...      exit status 1 on the first failure
const fs = require('node:fs');
const path = require('node:path');
const { targets, check } = require('./targets');

const [name, ...paths] = process.argv.slice(2);
const target = targets[name];
if (!target) {
  console.error(`replay: unknown target '${name}'`);
  process.exit(2);
}
const files = paths.flatMap((p) =>
  fs.statSync(p).isDirectory() ? fs.readdirSync(p).filter((f) => !f.startsWith('.') && f !== 'README.md').map((f) => path.join(p, f)) : [p]);
let failed = 0;
for (const file of files) {
  try {
    target(new Uint8Array(fs.readFileSync(file)));
    console.log(`ok ${file}: parsed`);
  } catch (err) {
    if (check(err)) {
      console.log(`ok ${file}: ${err.code}`);
    } else {
      failed++;
      console.log(`FAIL ${file}: ${err && err.stack ? err.stack : String(err)}`);
    }
  }
}
console.log(`replay ${name}: ${files.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
