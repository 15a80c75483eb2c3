/** Finding input files: images given directly or found in folders (recursively, sorted). */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp'];

export function isImageFile(file: string): boolean {
  return IMAGE_EXTENSIONS.includes(path.extname(file).toLowerCase());
}

export interface InputFile {
  /** The path to read. */
  file: string;
  /** Where its outputs go, relative to --out, without extension: the base name for a file given
   *  directly; the path inside the folder for a file found in a folder given. */
  name: string;
}

/** Files under `dir` (recursively; hidden entries skipped) that `keep` accepts, sorted. */
export async function walk(dir: string, keep: (file: string) => boolean): Promise<string[]> {
  const out: string[] = [];
  const visit = async (d: string): Promise<void> => {
    const entries = await fs.promises.readdir(d, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) await visit(p);
      else if ((e.isFile() || e.isSymbolicLink()) && keep(p)) out.push(p);
    }
  };
  await visit(dir);
  return out;
}

export function stem(file: string): string {
  const base = path.basename(file);
  const ext = path.extname(base);
  return ext ? base.slice(0, -ext.length) : base;
}

/** The name (relative path without extension) of `file` found under `root`, with '/' separators. */
export function relativeStem(root: string, file: string): string {
  const rel = path.relative(root, file);
  const ext = path.extname(rel);
  return (ext ? rel.slice(0, -ext.length) : rel).split(path.sep).join('/');
}

export interface CollectResult {
  inputs: InputFile[];
  /** Arguments that name nothing readable: reported as failures, the rest still processed. */
  missing: Array<{ arg: string; message: string }>;
}

/** Expands the command line's files and folders into image files with output names. */
export async function collectInputs(args: string[]): Promise<CollectResult> {
  const inputs: InputFile[] = [];
  const missing: CollectResult['missing'] = [];
  for (const arg of args) {
    let stat: fs.Stats;
    try {
      stat = await fs.promises.stat(arg);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      missing.push({ arg, message: code === 'ENOENT' ? 'no such file or folder' : (err as Error).message });
      continue;
    }
    if (stat.isDirectory()) {
      const files = await walk(arg, isImageFile);
      if (files.length === 0) missing.push({ arg, message: 'the folder holds no image files' });
      for (const f of files) inputs.push({ file: f, name: relativeStem(arg, f) });
    } else {
      inputs.push({ file: arg, name: stem(arg) });
    }
  }
  return { inputs, missing };
}

/** Pairs of inputs that would write the same outputs. */
export function duplicateNames(inputs: InputFile[]): Array<[InputFile, InputFile]> {
  const seen = new Map<string, InputFile>();
  const dups: Array<[InputFile, InputFile]> = [];
  for (const i of inputs) {
    const prev = seen.get(i.name);
    if (prev) dups.push([prev, i]);
    else seen.set(i.name, i);
  }
  return dups;
}
