/**
 * Atomic file writes: the bytes go to a temp file in the same folder (same file system, so the
 * rename is atomic), then are renamed over the target. A reader, or a rerun after an
 * interruption, sees either no file or the whole file, never half of one.
 *
 * Temp names are `.<target name>.<pid>-<start>-<thread>_<n>.tmp`, where <start> is the process's
 * start time (Linux: field 22 of /proc/<pid>/stat, clock ticks since boot): a pid alone is reused.
 * The live ones are tracked so that an interrupted process can remove what it leaves behind
 * (removeTempFiles()); a process killed outright (SIGKILL, power loss) leaves them, and the next
 * run removes those of processes that are gone (removeStaleTempFiles()): the pid is not running,
 * or it is running with another start time (the pid was reused). Temp files of live processes
 * are never touched.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { threadId } from 'node:worker_threads';
import { FcnkitError } from '../errors';

const live = new Set<string>();
let counter = 0;

export const TEMP_SUFFIX = '.tmp';

/** `.<name>.<pid>-<start>-<thread>_<n>.tmp` */
const TEMP_NAME = /^\..+\.(\d+)-([0-9a-z]+)-[0-9a-z]+_[0-9a-z]+\.tmp$/;

/**
 * The start time of process `pid` as a string, or undefined when it is not running. Linux: from
 * /proc/<pid>/stat; elsewhere (or when /proc hides it) '' for a running process: its start cannot
 * be read, so only its liveness counts.
 */
export function processStartTime(pid: number): string | undefined {
  if (process.platform === 'linux') {
    let text: string | undefined;
    try {
      text = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    } catch {
      // Not running, or hidden (/proc mounted hidepid): kill(pid, 0) below tells which.
    }
    if (text !== undefined) {
      // comm (field 2) is in parentheses and may hold spaces or ')': split after the last ')'.
      const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
      // rest[0] is field 3 (state); starttime is field 22. A zombie has ended.
      if (rest[0] === 'Z' || rest[0] === 'X') return undefined;
      if (rest[19] && /^\d+$/.test(rest[19])) return Number(rest[19]).toString(36);
    }
  }
  try {
    process.kill(pid, 0);
    return '';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? '' : undefined;
  }
}

/** This process's start time as it appears in temp names. */
const MY_START = processStartTime(process.pid) || Math.round(Date.now() - process.uptime() * 1000).toString(36);

export function tempPathFor(target: string): string {
  const tag = `${process.pid}-${MY_START}-${threadId.toString(36)}_${(counter++).toString(36)}`;
  return path.join(path.dirname(target), `.${path.basename(target)}.${tag}${TEMP_SUFFIX}`);
}

/** Whether a temp file name (as made by tempPathFor) belongs to a process that has ended. */
export function isStaleTempName(name: string): boolean {
  const m = TEMP_NAME.exec(name);
  if (!m) return false;
  const pid = Number(m[1]);
  if (pid === process.pid && m[2] === MY_START) return false;
  if (!Number.isSafeInteger(pid) || pid <= 0) return true;
  const start = processStartTime(pid);
  if (start === undefined) return true;
  // Running: stale only when its start time is known and differs (the pid was reused).
  return start !== '' && start !== m[2];
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

/** Removes the regular files under `dir` (links not followed, `maxDepth` levels) that `remove` picks. */
function sweep(dir: string, remove: (name: string) => boolean, depth: number, maxDepth: number): number {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  let n = 0;
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (depth < maxDepth) n += sweep(p, remove, depth + 1, maxDepth);
    } else if (e.isFile() && e.name.endsWith(TEMP_SUFFIX) && remove(e.name)) {
      try {
        fs.rmSync(p, { force: true });
        n++;
      } catch {
        // another process removed it first, or it is not ours to remove
      }
    }
  }
  return n;
}

/**
 * Removes the temp files under `dir` (up to `maxDepth` folders down; 0: `dir` only) left by
 * processes that have ended (see the module comment). Returns how many were removed.
 */
export function removeStaleTempFiles(dir: string, maxDepth = 32): number {
  return sweep(path.resolve(dir), isStaleTempName, 0, maxDepth);
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
  const mine = (name: string): boolean => TEMP_NAME.exec(name)?.[1] === String(process.pid) && TEMP_NAME.exec(name)?.[2] === MY_START;
  for (const dir of sweepDirs) {
    try {
      sweep(dir, mine, 0, 32);
    } catch {
      // as above
    }
  }
}

/** How many atomic writes are in flight. */
export function writesInFlight(): number {
  return live.size;
}
