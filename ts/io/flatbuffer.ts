/**
 * A small, strict FlatBuffers reader: enough of the wire format to walk a TFLite model.
 *
 * Every read is bounds-checked against the buffer before it happens, so a truncated or hostile
 * file raises FcnkitError BAD_MODEL — never an out-of-range read, a huge allocation or a hang:
 * vectors are only materialised when `length * elementSize` bytes are really there, and the
 * reader never follows offsets in loops of its own (callers walk a schema of fixed depth).
 *
 * Wire format reminders (what a reader of this file cannot see from the code alone):
 * - the buffer starts with a uoffset32 to the root table; bytes 4..8 hold the file identifier;
 * - a table starts with an soffset32: its vtable lies at `table - soffset` (either side);
 * - a vtable is u16 vtableBytes, u16 tableInlineBytes, then one u16 per field id: the field's
 *   offset inside the table, 0 when absent (the schema default applies);
 * - offsets to tables, vectors and strings are uoffset32 relative to where they are stored;
 * - a vector is u32 length then the elements; a string is u32 length, bytes, NUL;
 * - a union field `u` takes two ids: `u_type` (u8) and then `u` (an offset to the table).
 */
import { FcnkitError } from '../errors';

export class FlatBuffer {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /** What the bytes are, for error messages ("TFLite model"). */
  readonly what: string;

  constructor(bytes: Uint8Array, what = 'flatbuffer') {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.what = what;
  }

  get length(): number {
    return this.bytes.byteLength;
  }

  bad(message: string): FcnkitError {
    return new FcnkitError('BAD_MODEL', `${this.what}: ${message}`);
  }

  /** Throws unless [pos, pos + size) lies inside the buffer. */
  check(pos: number, size: number, what: string): void {
    if (!Number.isSafeInteger(pos) || !Number.isSafeInteger(size) || pos < 0 || size < 0 || pos + size > this.length) {
      throw this.bad(`${what} at byte ${pos} (${size} bytes) lies outside the ${this.length}-byte file`);
    }
  }

  u8(pos: number, what = 'byte'): number {
    this.check(pos, 1, what);
    return this.view.getUint8(pos);
  }

  u16(pos: number, what = 'u16'): number {
    this.check(pos, 2, what);
    return this.view.getUint16(pos, true);
  }

  i32(pos: number, what = 'i32'): number {
    this.check(pos, 4, what);
    return this.view.getInt32(pos, true);
  }

  u32(pos: number, what = 'u32'): number {
    this.check(pos, 4, what);
    return this.view.getUint32(pos, true);
  }

  /** The 4-character file identifier at bytes 4..8, or '' when the file is shorter. */
  identifier(): string {
    if (this.length < 8) return '';
    return String.fromCharCode(...this.bytes.subarray(4, 8));
  }

  /** The root table. */
  root(): FbTable {
    return this.tableAt(this.u32(0, 'root offset'), 'root table');
  }

  /** The table at absolute position `pos`, its vtable validated. */
  tableAt(pos: number, what: string): FbTable {
    const soffset = this.i32(pos, `${what} header`);
    const vtable = pos - soffset;
    const vtableBytes = this.u16(vtable, `${what} vtable`);
    if (vtableBytes < 4 || vtableBytes % 2 !== 0) throw this.bad(`${what} at byte ${pos} has a malformed vtable (size ${vtableBytes})`);
    this.check(vtable, vtableBytes, `${what} vtable`);
    const inlineBytes = this.u16(vtable + 2, `${what} vtable`);
    if (inlineBytes < 4) throw this.bad(`${what} at byte ${pos} claims ${inlineBytes} inline bytes`);
    this.check(pos, inlineBytes, what);
    return new FbTable(this, pos, vtable, vtableBytes, inlineBytes, what);
  }
}

export class FbTable {
  constructor(
    readonly fb: FlatBuffer,
    readonly pos: number,
    private readonly vtable: number,
    private readonly vtableBytes: number,
    private readonly inlineBytes: number,
    readonly what: string,
  ) {}

  /** Absolute position of field `id`'s inline data (checked to lie in the table), or 0 when absent. */
  private field(id: number, size: number): number {
    const entry = 4 + 2 * id;
    if (entry + 2 > this.vtableBytes) return 0;
    const off = this.fb.u16(this.vtable + entry);
    if (off === 0) return 0;
    if (off < 4 || off + size > this.inlineBytes) {
      throw this.fb.bad(`${this.what}: field ${id} at offset ${off} overruns the table's ${this.inlineBytes} bytes`);
    }
    return this.pos + off;
  }

  has(id: number): boolean {
    return this.field(id, 1) !== 0;
  }

  u8(id: number, def = 0): number {
    const p = this.field(id, 1);
    return p ? this.fb.u8(p) : def;
  }

  i8(id: number, def = 0): number {
    const p = this.field(id, 1);
    return p ? this.fb.view.getInt8(p) : def;
  }

  bool(id: number, def = false): boolean {
    const p = this.field(id, 1);
    return p ? this.fb.u8(p) !== 0 : def;
  }

  i32(id: number, def = 0): number {
    const p = this.field(id, 4);
    return p ? this.fb.i32(p) : def;
  }

  u32(id: number, def = 0): number {
    const p = this.field(id, 4);
    return p ? this.fb.u32(p) : def;
  }

  /** A u64 field as a number; values past 2^53 are refused. */
  u64(id: number, def = 0): number {
    const p = this.field(id, 8);
    if (!p) return def;
    this.fb.check(p, 8, `${this.what} field ${id}`);
    const v = this.fb.view.getBigUint64(p, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw this.fb.bad(`${this.what}: field ${id} = ${v} is too large`);
    return Number(v);
  }

  /** Where the uoffset in field `id` points, or 0 when absent. */
  private target(id: number): number {
    const p = this.field(id, 4);
    if (!p) return 0;
    const off = this.fb.u32(p);
    if (off === 0) throw this.fb.bad(`${this.what}: field ${id} has a zero offset`);
    const t = p + off;
    this.fb.check(t, 4, `${this.what} field ${id} target`);
    return t;
  }

  table(id: number, what: string): FbTable | undefined {
    const t = this.target(id);
    return t ? this.fb.tableAt(t, what) : undefined;
  }

  string(id: number): string | undefined {
    const t = this.target(id);
    if (!t) return undefined;
    const n = this.fb.u32(t);
    this.fb.check(t + 4, n, `${this.what} string field ${id}`);
    return Buffer.from(this.fb.bytes.buffer, this.fb.bytes.byteOffset + t + 4, n).toString('utf8');
  }

  /** Position and length of the vector in field `id`, its elements checked to be in the file. */
  private vector(id: number, elementBytes: number): { start: number; length: number } | undefined {
    const t = this.target(id);
    if (!t) return undefined;
    const length = this.fb.u32(t);
    this.fb.check(t + 4, length * elementBytes, `${this.what} vector field ${id} (${length} elements)`);
    return { start: t + 4, length };
  }

  /** Length of the vector in field `id` (0 when absent). */
  vectorLength(id: number): number {
    return this.vector(id, 1)?.length ?? 0;
  }

  int32s(id: number): number[] | undefined {
    const v = this.vector(id, 4);
    if (!v) return undefined;
    const out = new Array<number>(v.length);
    for (let i = 0; i < v.length; i++) out[i] = this.fb.view.getInt32(v.start + 4 * i, true);
    return out;
  }

  /** A [ubyte] vector as a view into the file (no copy). */
  bytes(id: number): Uint8Array | undefined {
    const v = this.vector(id, 1);
    return v ? this.fb.bytes.subarray(v.start, v.start + v.length) : undefined;
  }

  /** Element `i` of a vector of tables. */
  tableAt(id: number, i: number, what: string): FbTable {
    const v = this.vector(id, 4);
    if (!v || i < 0 || i >= v.length) throw this.fb.bad(`${this.what}: no element ${i} in vector field ${id}`);
    const p = v.start + 4 * i;
    const off = this.fb.u32(p);
    if (off === 0) throw this.fb.bad(`${what}: zero offset`);
    return this.fb.tableAt(p + off, what);
  }

  /** All tables of a vector field (the vector's bytes are checked first, so the count is backed by the file). */
  tables(id: number, what: (i: number) => string): FbTable[] {
    const n = this.vector(id, 4)?.length ?? 0;
    const out: FbTable[] = [];
    for (let i = 0; i < n; i++) out.push(this.tableAt(id, i, what(i)));
    return out;
  }
}
