#!/usr/bin/env node
'use strict';
// Checks that a built fcnkit.node runs where users are (Linux x86-64, glibc):
//   - libraries: NEEDED holds only glibc's own (libstdc++ and libgcc are static), no RPATH/RUNPATH,
//     no executable stack (glibc 2.41+ refuses to dlopen those);
//   - the oldest glibc it needs: the highest GLIBC_x.y symbol version it references;
//   - exports: only the Node-API entry points (a version script hides the rest, so no std::
//     template instance of ours can interpose with, or be interposed by, another module's);
//   - Electron: no napi_create_external_arraybuffer / napi_create_external_buffer (Electron's V8
//     memory cage forbids external buffers);
//   - instruction sets: code outside the dispatched kernels is baseline x86-64. Every function
//     holding a VEX- or EVEX-encoded instruction (AVX, AVX2, FMA, F16C, BMI, AVX-512: this covers
//     every ymm/zmm use), or a legacy-encoded one newer than SSE2, must belong to the kernel
//     namespaces: fcn::avx2:: (VEX only) or fcn::avx512:: / fcn::avx512bf16:: (VEX and EVEX;
//     the latter is chosen only where the CPU has AVX512-BF16). A name counts as
//     belonging when those namespaces appear anywhere in it, template arguments included
//     (std::function's handler for a lambda of fcn::avx2, say): such a symbol can only be
//     emitted where that namespace's types are visible, the kernel translation units, and only
//     runs once that kernel set was chosen. Anything else is a leak: typically an inline
//     function or template from a shared header (std::vector, a core helper) instantiated in an
//     AVX translation unit, which the linker may keep in place of the baseline copy (ODR), so
//     that baseline code calls it on a CPU without AVX.
// The instruction check needs the function symbols (.symtab): run it on the unstripped build;
// stripping does not change the code, and the other checks work on either.
//
// Usage: node scripts/check-binary.js [file.node] [--json] [--no-isa] [--max-glibc 2.35]
// Exit status 0 when every check passes, 1 otherwise. Needs binutils (objdump, readelf).
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ALLOWED_NEEDED = new Set([
  'libc.so.6',
  'libm.so.6',
  'libpthread.so.0',
  'libdl.so.2',
  'ld-linux-x86-64.so.2',
]);
const ALLOWED_EXPORTS = new Set(['napi_register_module_v1', 'node_api_module_get_api_version_v1']);
const FORBIDDEN_IMPORTS = ['napi_create_external_arraybuffer', 'napi_create_external_buffer'];

// Legacy-encoded (no VEX) instructions beyond baseline x86-64 (SSE2): SSE3, SSSE3, SSE4.1,
// SSE4.2, POPCNT, LZCNT, MOVBE. (tzcnt is left out: GCC emits `rep bsf` for baseline code,
// which objdump prints as tzcnt and which runs as bsf on older CPUs.)
const LEGACY_NEWER = new Set(
  (
    'addsubps addsubpd haddps haddpd hsubps hsubpd movddup movshdup movsldup lddqu ' +
    'pshufb palignr phaddw phaddd phaddsw phsubw phsubd phsubsw pabsb pabsw pabsd psignb psignw ' +
    'psignd pmaddubsw pmulhrsw ' +
    'blendps blendpd blendvps blendvpd pblendw pblendvb dpps dppd insertps extractps pextrb ' +
    'pextrd pextrq pinsrb pinsrd pinsrq pminsb pminsd pminuw pminud pmaxsb pmaxsd pmaxuw pmaxud ' +
    'pmovsxbw pmovsxbd pmovsxbq pmovsxwd pmovsxwq pmovsxdq pmovzxbw pmovzxbd pmovzxbq pmovzxwd ' +
    'pmovzxwq pmovzxdq pmuldq pmulld packusdw pcmpeqq ptest roundps roundpd roundss roundsd ' +
    'mpsadbw phminposuw movntdqa ' +
    'pcmpgtq pcmpestri pcmpestrm pcmpistri pcmpistrm crc32 crc32b crc32w crc32l crc32q ' +
    'popcnt lzcnt movbe'
  ).split(' '),
);
// Legacy prefixes that may come before a VEX/EVEX prefix in 64-bit mode (address size, segments).
const PASS_PREFIX = new Set(['67', '64', '65', '2e', '3e', '26', '36']);

function run(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    if (err.code === 'ENOENT') throw new Error(`${cmd} not found: check-binary needs binutils (objdump, readelf)`);
    throw new Error(`${cmd} ${args.join(' ')} failed: ${(err.stderr || err.message).toString().trim()}`);
  }
}

function versionKey(v) {
  return v.split('.').map(Number);
}
function compareVersions(a, b) {
  const x = versionKey(a);
  const y = versionKey(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] || 0) - (y[i] || 0);
    if (d) return d;
  }
  return 0;
}

/** The instruction set level one disassembled instruction needs: 0 baseline, 1 VEX, 2 EVEX. */
function classify(bytes, insn) {
  let i = 0;
  while (i < bytes.length && PASS_PREFIX.has(bytes[i])) i++;
  const lead = bytes[i];
  if (lead === '62') return { level: 2, what: 'EVEX (AVX-512)' };
  if (lead === 'c4' || lead === 'c5') {
    return { level: 1, what: /%ymm/.test(insn) ? 'VEX ymm (AVX/AVX2)' : 'VEX (AVX/FMA/F16C/BMI)' };
  }
  // Mnemonic after any prefixes written as words (lock, rep, notrack, data16, ...).
  const words = insn.split(/\s+/);
  for (const w of words) {
    if (LEGACY_NEWER.has(w)) return { level: 1, what: `${w} (newer than SSE2)` };
    if (!/^(lock|rep|repz|repnz|repe|repne|notrack|bnd|data16|addr32|cs|ds|es|ss|fs|gs|rex(\.\w+)?)$/.test(w)) break;
  }
  return null;
}

/** Functions (by demangled name) holding instructions newer than baseline x86-64. */
function scanInstructions(file) {
  const out = run('objdump', ['-d', '-w', '-C', file]);
  const functions = new Map();
  let current = null;
  for (const line of out.split('\n')) {
    const head = /^[0-9a-f]+ <(.*)>:$/.exec(line);
    if (head) {
      current = head[1];
      continue;
    }
    const m = /^\s*[0-9a-f]+:\t((?:[0-9a-f]{2} )+)\s*\t(.*)$/.exec(line);
    if (!m || current === null) continue;
    const c = classify(m[1].trim().split(' '), m[2]);
    if (!c) continue;
    let f = functions.get(current);
    if (!f) functions.set(current, (f = { name: current, level: 0, count: 0, examples: [] }));
    f.level = Math.max(f.level, c.level);
    f.count++;
    if (f.examples.length < 3 && !f.examples.some((e) => e.what === c.what)) {
      f.examples.push({ what: c.what, insn: m[2].trim() });
    }
  }
  return [...functions.values()];
}

/** 2 for fcn::avx512 and fcn::avx512bf16, 1 for fcn::avx2, 0 otherwise: the highest level the name may use. */
function allowedLevel(name) {
  if (/\bfcn::avx512(bf16)?::/.test(name)) return 2;
  if (/\bfcn::avx2::/.test(name)) return 1;
  return 0;
}

function checkBinary(file, opts = {}) {
  const checks = [];
  const add = (name, ok, detail) => checks.push({ name, ok, detail });
  const facts = { file: path.resolve(file), size: fs.statSync(file).size };

  const header = run('readelf', ['-hW', file]);
  const machine = (/Machine:\s*(.*)/.exec(header) || [])[1] || '?';
  add('ELF64 x86-64 shared object', /X86-64/.test(machine) && /Type:\s*DYN/.test(header), machine.trim());

  const dyn = run('readelf', ['-dW', file]);
  const needed = [...dyn.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  facts.needed = needed;
  const badNeeded = needed.filter((n) => !ALLOWED_NEEDED.has(n));
  add('NEEDED only glibc libraries (libstdc++, libgcc static)', badNeeded.length === 0,
    badNeeded.length ? `unexpected: ${badNeeded.join(', ')}` : needed.join(', '));
  const rpath = [...dyn.matchAll(/\((RPATH|RUNPATH)\)\s+Library r(?:un)?path: \[([^\]]*)\]/g)].map((m) => `${m[1]}=${m[2]}`);
  add('no RPATH/RUNPATH', rpath.length === 0, rpath.join(', ') || 'none');

  const segments = run('readelf', ['-lW', file]);
  const stack = /GNU_STACK(?:\s+\S+){5}\s+(\S+)/.exec(segments);
  add('no executable stack', !!stack && !/E/.test(stack[1]), stack ? `GNU_STACK ${stack[1]}` : 'no GNU_STACK header');

  const dynsym = run('objdump', ['-T', file]);
  const versions = new Set();
  const foreignVersions = new Set();
  const imports = new Set();
  const exports = [];
  for (const line of dynsym.split('\n')) {
    const m = /^[0-9a-f]{16}\s.{7}\s(\S+)\s+[0-9a-f]+\s+(?:\(?([A-Za-z_]+_[0-9][0-9.]*)\)?\s+)?(?:Base\s+)?(\S+)$/.exec(line);
    if (!m) continue;
    const [, section, version, name] = m;
    if (version) {
      if (version.startsWith('GLIBC_')) versions.add(version.slice(6));
      else foreignVersions.add(version);
    }
    if (section === '*UND*') imports.add(name);
    else exports.push(name);
  }
  const glibc = [...versions].sort(compareVersions).pop() || null;
  facts.glibc = glibc;
  add('references only GLIBC_ symbol versions (no GLIBCXX_/CXXABI_/GCC_)', foreignVersions.size === 0,
    [...foreignVersions].join(', ') || `oldest glibc needed: ${glibc}`);
  if (opts.maxGlibc) {
    add(`needs glibc <= ${opts.maxGlibc}`, glibc !== null && compareVersions(glibc, opts.maxGlibc) <= 0, `needs ${glibc}`);
  }
  const extraExports = exports.filter((n) => !ALLOWED_EXPORTS.has(n));
  facts.exports = exports;
  add('exports only the Node-API entry points', extraExports.length === 0 && exports.includes('napi_register_module_v1'),
    extraExports.length ? `also exports ${extraExports.length}: ${extraExports.slice(0, 5).join(', ')}${extraExports.length > 5 ? ', ...' : ''}` : exports.join(', '));
  const forbidden = FORBIDDEN_IMPORTS.filter((n) => imports.has(n));
  add('no external ArrayBuffers/Buffers (Electron)', forbidden.length === 0, forbidden.join(', ') || 'none referenced');

  if (opts.isa !== false) {
    const sections = run('readelf', ['-SW', file]);
    if (!/\]\s+\.symtab\s/.test(sections)) {
      add('baseline x86-64 outside the kernels', false, 'no .symtab: run this check on the unstripped build (build/Release/fcnkit.node)');
    } else {
      const fns = scanInstructions(file);
      const leaks = fns.filter((f) => f.level > allowedLevel(f.name));
      facts.kernelFunctions = fns.length - leaks.length;
      facts.leaks = leaks;
      add('baseline x86-64 outside the kernels (no AVX/AVX2/AVX-512 outside fcn::avx2::/fcn::avx512::/fcn::avx512bf16::, no AVX-512 in fcn::avx2::)',
        leaks.length === 0,
        leaks.length
          ? `${leaks.length} function(s):\n${leaks.map((f) => `      ${f.name}\n        ${f.count} instruction(s), e.g. ${f.examples.map((e) => `${e.insn} [${e.what}]`).join('; ')}`).join('\n')}`
          : `${fns.length} functions use AVX/AVX2/AVX-512, all in the kernel namespaces`);
    }
  }
  return { ok: checks.every((c) => c.ok), checks, facts };
}

module.exports = { checkBinary, compareVersions };

if (require.main === module) {
  const args = process.argv.slice(2);
  const json = args.includes('--json');
  const maxIdx = args.indexOf('--max-glibc');
  const maxGlibc = maxIdx >= 0 ? args[maxIdx + 1] : undefined;
  const file = args.find((a, i) => !a.startsWith('--') && (maxIdx < 0 || i !== maxIdx + 1)) ||
    path.join(__dirname, '..', 'build', 'Release', 'fcnkit.node');
  let result;
  try {
    result = checkBinary(file, { isa: !args.includes('--no-isa'), maxGlibc });
  } catch (err) {
    console.error(`check-binary: ${err.message}`);
    process.exit(1);
  }
  if (json) {
    console.log(JSON.stringify(result, null, 2));
  } else {
    console.log(`${result.facts.file} (${result.facts.size} bytes)`);
    for (const c of result.checks) console.log(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
    console.log(`  oldest glibc needed: ${result.facts.glibc}`);
  }
  process.exit(result.ok ? 0 : 1);
}
