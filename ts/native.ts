/** The one typed view of the native addon. Nothing else in ts/ touches `require` of the binary. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FcnkitError } from './errors';

export interface NativeTensor {
  data: Float32Array | Int32Array;
  shape: readonly number[];
}

export type NativeAttrs = Record<string, number | boolean | string | number[] | undefined>;

export interface NativeBackendInfo {
  isa: 'ref' | 'avx2' | 'avx512';
  isaNote?: string;
  bestIsa: 'ref' | 'avx2' | 'avx512';
  threads: number;
  cuda: { compiled: boolean; available: boolean; reason?: string; devices?: unknown[] };
}

export interface NativeAddon {
  backendInfo(): NativeBackendInfo;
  opTypes(): string[];
  /** Single-thread FMA GFLOP/s of the active ISA (a benchmark yardstick). */
  measureFmaPeak(seconds?: number): number;
  runOp(type: string, inputs: NativeTensor[], attrs: NativeAttrs, threads?: number): Promise<NativeTensor[]>;
  runOpSync(type: string, inputs: NativeTensor[], attrs: NativeAttrs, threads?: number): NativeTensor[];
}

const root = path.join(__dirname, '..');

function load(): NativeAddon {
  const tried: string[] = [];
  const platform = `${process.platform}-${process.arch}`;
  if (process.platform === 'linux' && isMusl()) {
    throw new FcnkitError(
      'BINARY_LOAD_FAILED',
      'fcnkit does not support musl libc (Alpine Linux) yet: its binaries need glibc. Use a glibc-based image such as node:20-bookworm-slim.',
    );
  }
  try {
    // node-gyp-build looks in prebuilds/<platform>-<arch>/ and build/Release/.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => NativeAddon;
    return nodeGypBuild(root);
  } catch (err) {
    tried.push(`node-gyp-build(${root}): ${(err as Error).message.split('\n')[0]}`);
  }
  // Without node_modules (a copied dist/ and build/), load the build tree directly.
  for (const candidate of [path.join(root, 'build', 'Release', 'fcnkit.node')]) {
    if (!fs.existsSync(candidate)) {
      tried.push(`${candidate}: not found`);
      continue;
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return require(candidate) as NativeAddon;
    } catch (err) {
      tried.push(`${candidate}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  throw new FcnkitError(
    'BINARY_LOAD_FAILED',
    [
      `Could not load the fcnkit native module for ${platform} (Node ${process.version}, Node-API ${process.versions.napi}).`,
      'Tried:',
      ...tried.map((t) => `  - ${t}`),
      'In a clone, build it with `npm run build` (needs cmake and a C++17 compiler).',
      'From the registry, reinstall fcnkit and check that prebuilds/ holds a binary for this platform.',
    ].join('\n'),
  );
}

function isMusl(): boolean {
  const report = process.report?.getReport?.() as { header?: { glibcVersionRuntime?: string } } | undefined;
  return !!report && !report.header?.glibcVersionRuntime;
}

let addon: NativeAddon | undefined;

/** The addon, loaded on first use. */
export function native(): NativeAddon {
  return (addon ??= load());
}
