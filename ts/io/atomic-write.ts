/**
 * Atomic file writes: the bytes go to a temp file in the same folder (same file system, so the
 * rename is atomic), then are renamed over the target. A reader, or a rerun after an
 * interruption, sees either no file or the whole file, never half of one.
 *
 * Temp names are `.<target name>.<pid>-<n>.tmp`; the live ones are tracked so that an
 * interrupted process can remove what it leaves behind (removeTempFiles()).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FcnkitError } from '../errors';

const live = new Set<string>();
let counter = 0;

export const TEMP_SUFFIX = '.tmp';

export function tempPathFor(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}-${(counter++).toString(36)}${TEMP_SUFFIX}`);
}

/** Writes `data` to `target` atomically. IO_ERROR (naming the file) when it cannot. */
export async function writeFileAtomic(target: string, data: Uint8Array): Promise<void> {
  const tmp = tempPathFor(target);
  live.add(tmp);
  try {
    await fs.promises.writeFile(tmp, data, { flag: 'wx' });
    await fs.promises.rename(tmp, target);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true }).catch(() => undefined);
    throw new FcnkitError('IO_ERROR', `cannot write '${target}': ${(err as Error).message}`, { cause: err });
  } finally {
    live.delete(tmp);
  }
}

const sweepDirs = new Set<string>();

/**
 * Also sweep `dir` (recursively) in removeTempFiles(): worker threads share this process's pid
 * but not this module's list, so a process leaving in a hurry finds their temp files by name.
 */
export function sweepTempFilesIn(dir: string): void {
  sweepDirs.add(path.resolve(dir));
}

function sweep(dir: string, pattern: RegExp, depth: number): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory() && depth < 32) sweep(p, pattern, depth + 1);
    else if (pattern.test(e.name)) fs.rmSync(p, { force: true });
  }
}

/**
 * Removes the temp files of writes still in flight (for a process about to exit); with `sweep`,
 * also this process's temp files in the folders given to sweepTempFilesIn().
 */
export function removeTempFiles(sweepFolders = false): void {
  for (const tmp of live) {
    try {
      fs.rmSync(tmp, { force: true });
    } catch {
      // nothing more to do on the way out
    }
  }
  live.clear();
  if (!sweepFolders) return;
  const mine = new RegExp(`^\\..+\\.${process.pid}-[0-9a-z]+\\${TEMP_SUFFIX}$`);
  for (const dir of sweepDirs) {
    try {
      sweep(dir, mine, 0);
    } catch {
      // as above
    }
  }
}

/** How many atomic writes are in flight. */
export function writesInFlight(): number {
  return live.size;
}
