// Protobuf wire format: a zero-copy, bounds-checked Reader and a growable Writer.

export const VARINT = 0;
export const I64 = 1;
export const LEN = 2;
export const SGROUP = 3;
export const EGROUP = 4;
export const I32 = 5;

/** Thrown for any malformed, truncated or unrepresentable input. */
export class BadModelError extends Error {
  readonly code = 'BAD_MODEL' as const;
  constructor(what: string, readonly offset?: number) {
    super(offset === undefined ? what : `${what} at byte ${offset}`);
    this.name = 'BadModelError';
  }
}

/**
 * Thrown for values that cannot be encoded. A RangeError whose `code` is 'INVALID_ARGUMENT', so
 * code-based error mapping does not take it for an allocation failure.
 */
export class EncodeError extends RangeError {
  readonly code = 'INVALID_ARGUMENT' as const;
  constructor(message: string) {
    super(message);
    this.name = 'EncodeError';
  }
}

const MAX_DEPTH = 100; // nested messages/groups; keeps hostile input from blowing the JS stack
const TWO_32 = 4294967296;
const utf8Decoder = new TextDecoder();
const utf8Encoder = new TextEncoder();

function fmt64(lo: number, hi: number, signed: boolean): string {
  const v = (BigInt(hi) << 32n) | BigInt(lo);
  return String(signed ? BigInt.asIntN(64, v) : v);
}

export class Reader {
  pos: number;
  /** End of the message currently being read; every read is checked against it. */
  limit: number;
  private readonly view: DataView;
  private depth = 0;
  private lo = 0;
  private hi = 0;

  constructor(readonly buf: Uint8Array, start = 0, end = buf.length) {
    if (start < 0 || end > buf.length || start > end) throw new EncodeError('Reader range outside buffer');
    this.pos = start;
    this.limit = end;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  more(): boolean {
    return this.pos < this.limit;
  }

  /** Reads a tag; the field number is `tag >>> 3`, the wire type `tag & 7`. */
  tag(): number {
    const at = this.pos;
    const t = this.uint32();
    if (this.hi !== 0 || t >>> 3 === 0) throw new BadModelError(`invalid field tag ${fmt64(t, this.hi, false)}`, at);
    if ((t & 7) > 5) throw new BadModelError(`bad wire type ${t & 7}`, at);
    return t;
  }

  // Leaves the 64-bit value in this.lo / this.hi (both unsigned 32-bit).
  private varint(): void {
    const b = this.buf;
    const start = this.pos;
    let p = start;
    let lo = 0;
    let hi = 0;
    for (let i = 0; ; i++) {
      if (p >= this.limit) throw new BadModelError('truncated varint', start);
      const byte = b[p++]!;
      if (i < 4) lo |= (byte & 0x7f) << (7 * i);
      else if (i === 4) {
        lo |= (byte & 0x0f) << 28;
        hi = (byte & 0x7f) >>> 4;
      } else if (i < 9) hi |= (byte & 0x7f) << (7 * i - 32);
      else {
        if (byte > 1) throw new BadModelError(byte & 0x80 ? 'varint longer than 10 bytes' : 'varint exceeds 64 bits', start);
        hi |= byte << 31;
      }
      if (byte < 0x80) break;
    }
    this.pos = p;
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
  }

  /** uint32 (higher bits are discarded, as protobuf does). */
  uint32(): number {
    const first = this.buf[this.pos]!;
    if (this.pos < this.limit && first < 0x80) {
      this.hi = 0;
      this.pos++;
      return first;
    }
    this.varint();
    return this.lo;
  }

  int32(): number {
    return this.uint32() | 0;
  }

  bool(): boolean {
    this.varint();
    return (this.lo | this.hi) !== 0;
  }

  /**
   * int64 as a number. Values beyond ±2^53 saturate to ±Number.MAX_SAFE_INTEGER: exporters
   * write INT64_MAX / INT64_MIN as "to the end" (Slice ends, Clip bounds), and any size that
   * large is refused later as too large, so nothing silently turns small.
   */
  int64(): number {
    const lo = this.uint32();
    const hi = this.hi | 0;
    if (hi > 0x200000 || (hi === 0x200000 && lo !== 0)) return Number.MAX_SAFE_INTEGER;
    if (hi < -0x200000) return -Number.MAX_SAFE_INTEGER;
    return hi * TWO_32 + lo;
  }

  uint64(): number {
    const at = this.pos;
    const lo = this.uint32();
    const hi = this.hi;
    if (hi > 0x200000 || (hi === 0x200000 && lo !== 0)) {
      throw new BadModelError(`uint64 value ${fmt64(lo, hi, false)} above 2^53`, at);
    }
    return hi * TWO_32 + lo;
  }

  private need(n: number, what: string): number {
    const at = this.pos;
    if (n > this.limit - at) throw new BadModelError(`truncated ${what}: needs ${n} bytes, ${this.limit - at} left`, at);
    this.pos = at + n;
    return at;
  }

  float(): number {
    return this.view.getFloat32(this.need(4, 'float'), true);
  }

  double(): number {
    return this.view.getFloat64(this.need(8, 'double'), true);
  }

  /** Reads a length prefix and checks that many bytes remain in the current message. */
  len(): number {
    const at = this.pos;
    const n = this.uint32();
    if (this.hi !== 0 || n > this.limit - this.pos) {
      throw new BadModelError(`length ${fmt64(n, this.hi, false)} runs past end of message (${this.limit - this.pos} bytes left)`, at);
    }
    return n;
  }

  /** A view into the input buffer, never a copy. */
  bytes(): Uint8Array {
    const n = this.len();
    const start = this.pos;
    this.pos += n;
    return this.buf.subarray(start, start + n);
  }

  string(): string {
    return utf8Decoder.decode(this.bytes());
  }

  /** Decodes a length-delimited sub-message with `decode`, which reads while `more()`. */
  message<T>(decode: (r: Reader) => T): T {
    const n = this.len();
    if (this.depth >= MAX_DEPTH) throw new BadModelError(`messages nested deeper than ${MAX_DEPTH}`, this.pos);
    const outer = this.limit;
    this.limit = this.pos + n;
    this.depth++;
    const v = decode(this);
    this.depth--;
    this.limit = outer;
    return v;
  }

  /** Appends a repeated scalar, accepting both the packed (LEN) and unpacked encodings. */
  repeated<T>(tag: number, read: (r: Reader) => T, out: T[]): void {
    if ((tag & 7) !== LEN) {
      out.push(read(this));
      return;
    }
    const n = this.len();
    const outer = this.limit;
    this.limit = this.pos + n;
    while (this.pos < this.limit) out.push(read(this));
    this.limit = outer;
  }

  /** Skips the field whose tag was just read. */
  skip(tag: number): void {
    const at = this.pos;
    switch (tag & 7) {
      case VARINT:
        this.varint();
        break;
      case I64:
        this.need(8, 'fixed64');
        break;
      case LEN: {
        const n = this.len(); // not `this.pos += this.len()`: that reads pos before len() moves it
        this.pos += n;
        break;
      }
      case I32:
        this.need(4, 'fixed32');
        break;
      case SGROUP: {
        if (this.depth >= MAX_DEPTH) throw new BadModelError(`groups nested deeper than ${MAX_DEPTH}`, at);
        this.depth++;
        for (;;) {
          if (this.pos >= this.limit) throw new BadModelError(`unterminated group for field ${tag >>> 3}`, at);
          const t = this.tag();
          if ((t & 7) === EGROUP) {
            if (t >>> 3 !== tag >>> 3) throw new BadModelError(`end-group for field ${t >>> 3} inside group ${tag >>> 3}`, this.pos);
            break;
          }
          this.skip(t);
        }
        this.depth--;
        break;
      }
      default:
        throw new BadModelError(`unexpected wire type ${tag & 7} for field ${tag >>> 3}`, at);
    }
  }
}

function checkInt(n: number, min: number, max: number, what: string): void {
  if (!Number.isInteger(n) || n < min || n > max) throw new EncodeError(`${what} value ${n} is not an integer in [${min}, ${max}]`);
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

export class Writer {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;
  private forks: number[] = [];

  constructor(initialCapacity = 1024) {
    this.buf = new Uint8Array(Math.max(16, initialCapacity));
    this.view = new DataView(this.buf.buffer);
  }

  get length(): number {
    return this.pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  private varint64(lo: number, hi: number): void {
    this.ensure(10);
    this.pos = this.put(this.pos, lo, hi);
  }

  // Writes a varint at p without growing the buffer; returns the end offset.
  private put(p: number, lo: number, hi: number): number {
    const b = this.buf;
    while (hi !== 0 || lo > 0x7f) {
      b[p++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    b[p++] = lo;
    return p;
  }

  tag(field: number, wire: number): this {
    checkInt(field, 1, 0x1fffffff, 'field number');
    return this.uint32(field * 8 + wire);
  }

  uint32(n: number): this {
    checkInt(n, 0, 0xffffffff, 'uint32');
    this.varint64(n >>> 0, 0);
    return this;
  }

  /** Negative values take 10 bytes (sign-extended to 64 bits), as protobuf requires. */
  int32(n: number): this {
    checkInt(n, -0x80000000, 0x7fffffff, 'int32');
    this.varint64(n >>> 0, n < 0 ? 0xffffffff : 0);
    return this;
  }

  int64(n: number): this {
    checkInt(n, -(2 ** 53), 2 ** 53, 'int64');
    // Two's complement split: ToUint32 is reduction mod 2^32, exact for these integers.
    this.varint64(n >>> 0, Math.floor(n / TWO_32) >>> 0);
    return this;
  }

  uint64(n: number): this {
    checkInt(n, 0, 2 ** 53, 'uint64');
    this.varint64(n >>> 0, Math.floor(n / TWO_32) >>> 0);
    return this;
  }

  bool(v: boolean): this {
    return this.uint32(v ? 1 : 0);
  }

  float(n: number): this {
    this.ensure(4);
    this.view.setFloat32(this.pos, n, true);
    this.pos += 4;
    return this;
  }

  double(n: number): this {
    this.ensure(8);
    this.view.setFloat64(this.pos, n, true);
    this.pos += 8;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.uint32(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  string(s: string): this {
    return this.bytes(utf8Encoder.encode(s));
  }

  /** Starts a length-delimited block; close it with ldelim(). */
  fork(): this {
    this.ensure(1);
    this.forks.push(this.pos);
    this.pos += 1; // room for a one-byte length; ldelim shifts the body when it needs more
    return this;
  }

  ldelim(): this {
    const start = this.forks.pop();
    if (start === undefined) throw new EncodeError('ldelim() without fork()');
    const len = this.pos - start - 1;
    if (len > 0x7fffffff) throw new EncodeError(`message of ${len} bytes exceeds the 2 GiB protobuf limit`);
    const size = varintSize(len);
    if (size > 1) {
      this.ensure(size - 1);
      this.buf.copyWithin(start + size, start + 1, this.pos);
    }
    this.pos = this.put(start, len, 0) + len;
    return this;
  }

  /** Returns the encoded bytes (a view of the internal buffer) and resets the writer. */
  finish(): Uint8Array {
    if (this.forks.length) throw new EncodeError('finish() with unclosed fork()');
    const out = this.buf.subarray(0, this.pos);
    this.buf = new Uint8Array(16);
    this.view = new DataView(this.buf.buffer);
    this.pos = 0;
    return out;
  }
}
