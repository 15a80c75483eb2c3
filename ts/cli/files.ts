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

/** The real path of a folder, or its absolute path when it does not exist (yet). */
function realDir(dir: string): string {
  try {
    return fs.realpathSync(dir);
  } catch {
    return path.resolve(dir);
  }
}

/**
 * Files under `dir` (recursively; hidden entries skipped, and the folders in `skip`: an output
 * folder inside an input folder) that `keep` accepts, sorted.
 */
export async function walk(dir: string, keep: (file: string) => boolean, skip: readonly string[] = []): Promise<string[]> {
  const out: string[] = [];
  const skipReal = new Set(skip.map(realDir));
  const visit = async (d: string): Promise<void> => {
    const entries = await fs.promises.readdir(d, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        if (!skipReal.has(realDir(p))) await visit(p);
      }
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

/**
 * Expands the command line's files and folders into image files with output names. Folders in
 * `skip` (the output folder) are not searched when found inside a folder given.
 */
export async function collectInputs(args: string[], skip: readonly string[] = []): Promise<CollectResult> {
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
      const files = await walk(arg, isImageFile, skip);
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

/** An output that is also an input of the batch: writing it would replace the user's file. */
export interface Clobber {
  input: string;
  output: string;
  /** The input the output belongs to. */
  of: string;
}

function fileId(st: fs.Stats): string {
  return `${st.dev}:${st.ino}`;
}

/**
 * Outputs (each input's output paths) that are one of the inputs: the same file, by device and
 * inode, so a path spelled differently, a symlink either way or a hard link is caught too.
 */
export async function outputsThatAreInputs(inputs: InputFile[], outputsOf: (i: InputFile) => string[]): Promise<Clobber[]> {
  const ids = new Map<string, string>();
  for (const i of inputs) {
    const st = await fs.promises.stat(i.file).catch(() => undefined);
    if (st) ids.set(fileId(st), i.file);
  }
  const found: Clobber[] = [];
  for (const i of inputs) {
    for (const o of outputsOf(i)) {
      const st = await fs.promises.stat(o).catch(() => undefined);
      const input = st && ids.get(fileId(st));
      if (input !== undefined) found.push({ input, output: o, of: i.file });
    }
  }
  return found;
}
