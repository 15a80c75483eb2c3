/**
 * The one way fcnkit reads a file it is given: regular files only, with a size cap, read from
 * the descriptor that was checked.
 *
 * The file is opened O_RDONLY | O_NONBLOCK | O_NOCTTY, so opening a FIFO with no writer or a
 * device returns at once instead of blocking a thread for ever; the descriptor is fstat'ed and
 * anything but a regular file (FIFO, character or block device such as /dev/zero, folder,
 * socket) is refused with IO_ERROR naming the path and what it is. A symlink is followed, so a
 * link to /dev/zero is refused the same way. The size comes from that same fstat and is checked
 * against the caller's cap (TOO_LARGE) before a byte is allocated; exactly that many bytes are
 * read (a file that grows meanwhile is read up to its size at open; one that shrinks is an
 * IO_ERROR).
 *
 * Caps per kind of file are here, in one place, so the README can list them.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { constants as bufferConstants } from 'node:buffer';
import { FcnkitError } from '../errors';
import type { ErrorCode } from '../errors';

const GiB = 1024 * 1024 * 1024;
const MiB = 1024 * 1024;

/** The largest Buffer this Node can make (4 GiB on Node 20). */
const BUFFER_MAX = bufferConstants.MAX_LENGTH;

/** Size caps, bytes, per kind of file. */
export const FILE_LIMITS = Object.freeze({
  /** ONNX, TFLite, Caffe prototxt and caffemodel, safetensors. */
  model: Math.min(4 * GiB, BUFFER_MAX),
  /** An image to decode (PNG, JPEG, WebP), a label image. */
  image: 1 * GiB,
  /** A preprocessing sidecar (JSON). */
  sidecar: 1 * MiB,
  /** A .npy file. */
  npy: Math.min(4 * GiB, BUFFER_MAX),
});

const OPEN_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | (fs.constants.O_NOCTTY ?? 0);

export interface ReadOptions {
  /** What the file is, for messages: 'model', 'image', 'caffemodel', ... */
  what: string;
  /** The largest size accepted (TOO_LARGE above). */
  maxBytes: number;
  /** The code when the path is not a regular file (default IO_ERROR; BAD_MODEL where a model names the file). */
  notRegular?: ErrorCode;
}

/** What a non-regular file is, in words. */
export function describeFileType(st: fs.Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return st.isFile() ? 'a regular file' : 'not a regular file';
}

function linkNote(file: string): string {
  try {
    const real = fs.realpathSync(file);
    return real !== path.resolve(file) ? ` (a link to '${real}')` : '';
  } catch {
    return '';
  }
}

function openError(file: string, what: string, err: unknown): FcnkitError {
  if (err instanceof FcnkitError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  let reason: string;
  switch (code) {
    case 'ENOENT': reason = 'no such file'; break;
    case 'EACCES': case 'EPERM': reason = 'permission denied'; break;
    case 'ENXIO': case 'ENODEV': reason = 'not a regular file (a socket or a device)'; break;
    case 'ELOOP': reason = 'too many levels of symbolic links'; break;
    case 'ENOTDIR': reason = 'a part of the path is not a folder'; break;
    case 'ENAMETOOLONG': reason = 'the path is too long'; break;
    default: reason = (err as Error)?.message ?? String(err);
  }
  if (code && !reason.includes(code)) reason += ` (${code})`;
  return new FcnkitError('IO_ERROR', `cannot read ${what} '${file}': ${reason}`, { cause: err });
}

function checkStat(file: string, st: fs.Stats, opts: ReadOptions): void {
  if (!st.isFile()) {
    throw new FcnkitError(opts.notRegular ?? 'IO_ERROR', `cannot read ${opts.what} '${file}'${linkNote(file)}: it is ${describeFileType(st)}, not a regular file`);
  }
  if (st.size > opts.maxBytes) {
    throw new FcnkitError('TOO_LARGE', `${opts.what} '${file}' is ${st.size} bytes, over the limit of ${opts.maxBytes} bytes (${opts.what} files)`);
  }
}

function checkPath(file: unknown, what: string): asserts file is string {
  if (typeof file !== 'string' || file.length === 0 || file.includes('\0')) {
    throw new FcnkitError('INVALID_ARGUMENT', `Expected a file path for ${what} but received ${typeof file === 'string' ? JSON.stringify(file) : typeof file}`);
  }
}

/**
 * Opens `file` as a regular file (see the module comment) and calls `fn` with the descriptor and
 * its fstat; closes it after. Errors: IO_ERROR (missing, unreadable, not a regular file),
 * TOO_LARGE (over opts.maxBytes).
 */
export function withRegularFileSync<T>(file: string, opts: ReadOptions, fn: (fd: number, st: fs.Stats) => T): T {
  checkPath(file, opts.what);
  let fd: number;
  try {
    fd = fs.openSync(file, OPEN_FLAGS);
  } catch (err) {
    throw openError(file, opts.what, err);
  }
  try {
    const st = fs.fstatSync(fd);
    checkStat(file, st, opts);
    return fn(fd, st);
  } catch (err) {
    if (err instanceof FcnkitError) throw err;
    throw openError(file, opts.what, err);
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads `length` bytes at `offset` of an open descriptor; IO_ERROR if the file ends first. */
export function readRangeSync(fd: number, file: string, what: string, offset: number, length: number): Buffer {
  const out = Buffer.allocUnsafeSlow(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, out, done, Math.min(length - done, GiB), offset + done);
    if (n <= 0) throw new FcnkitError('IO_ERROR', `cannot read ${what} '${file}': the file ended early (it shrank while being read?)`);
    done += n;
  }
  return out;
}

/** The whole of a regular file, synchronously (see withRegularFileSync). */
export function readRegularFileSync(file: string, opts: ReadOptions): Buffer {
  return withRegularFileSync(file, opts, (fd, st) => readRangeSync(fd, file, opts.what, 0, st.size));
}

/** Files beyond this are read in parallel chunks (several reads in flight beat one long one). */
const CHUNKED_READ_BYTES = 64 * MiB;
const READ_CHUNK = 32 * MiB;

/** The whole of a regular file (see withRegularFileSync); big files are read in parallel chunks. */
export async function readRegularFile(file: string, opts: ReadOptions): Promise<Buffer> {
  checkPath(file, opts.what);
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(file, OPEN_FLAGS);
  } catch (err) {
    throw openError(file, opts.what, err);
  }
  try {
    const st = await fh.stat();
    checkStat(file, st, opts);
    const size = st.size;
    const buf = Buffer.allocUnsafeSlow(size);
    const chunk = size < CHUNKED_READ_BYTES ? Math.max(size, 1) : READ_CHUNK;
    const reads: Promise<void>[] = [];
    for (let off = 0; off < size; off += chunk) {
      const len = Math.min(chunk, size - off);
      reads.push((async () => {
        let done = 0;
        while (done < len) {
          const { bytesRead } = await fh.read(buf, off + done, len - done, off + done);
          if (bytesRead === 0) throw new FcnkitError('IO_ERROR', `cannot read ${opts.what} '${file}': the file ended early (it shrank while being read?)`);
          done += bytesRead;
        }
      })());
    }
    await Promise.all(reads);
    return buf;
  } catch (err) {
    throw openError(file, opts.what, err);
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** Like readRegularFile, but undefined when the file does not exist (optional files: sidecars). */
export async function readOptionalRegularFile(file: string, opts: ReadOptions): Promise<Buffer | undefined> {
  try {
    return await readRegularFile(file, opts);
  } catch (err) {
    if ((err as { cause?: { code?: string } }).cause?.code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Whether `file` exists at all (any type, links followed or not): for choosing among paths. */
export function entryExists(file: string): boolean {
  try {
    fs.lstatSync(file);
    return true;
  } catch {
    return false;
  }
}

/** The most folders makeDirs creates in one call (a path deeper than this is refused). */
const MAX_NEW_DIRS = 64;

/**
 * Creates folder `dir` and its missing parents, one level at a time (Node's recursive mkdir can
 * loop for ever on paths such as /proc/x, where mkdir says ENOENT under a parent that exists).
 * IO_ERROR naming `dir` when any step fails or a part of the path is not a folder.
 */
export async function makeDirs(dir: string, what = 'folder'): Promise<void> {
  checkPath(dir, what);
  const target = path.resolve(dir);
  const missing: string[] = [];
  let cur = target;
  for (;;) {
    let st: fs.Stats | undefined;
    try {
      st = await fsp.stat(cur);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // ENOTDIR: a part of the path is a file; going up finds it and says so.
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new FcnkitError('IO_ERROR', `cannot create the ${what} '${dir}': '${cur}': ${(err as Error).message}`, { cause: err });
    }
    if (st) {
      if (!st.isDirectory()) throw new FcnkitError('IO_ERROR', `cannot create the ${what} '${dir}': '${cur}' is ${describeFileType(st)}, not a folder`);
      break;
    }
    missing.push(cur);
    if (missing.length > MAX_NEW_DIRS) throw new FcnkitError('IO_ERROR', `cannot create the ${what} '${dir}': more than ${MAX_NEW_DIRS} missing folders`);
    const parent = path.dirname(cur);
    if (parent === cur) break;
    cur = parent;
  }
  for (const d of missing.reverse()) {
    try {
      await fsp.mkdir(d);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') {
        const st = await fsp.stat(d).catch(() => undefined);
        if (st?.isDirectory()) continue;
      }
      throw new FcnkitError('IO_ERROR', `cannot create the ${what} '${dir}': ${code === 'ENOENT' ? `'${d}' cannot be created here` : (err as Error).message}`, { cause: err });
    }
  }
}
