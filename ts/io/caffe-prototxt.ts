/**
 * The protobuf text format as Caffe writes its nets (deploy.prototxt, train_val.prototxt):
 *
 *   name: "FCN"            # comments run to the end of the line
 *   layer { name: 'conv1' type: "Convolution" convolution_param { kernel_size: 3 pad: 1 } }
 *   layer < name: "x" >    # angle brackets delimit a message too
 *   input_dim: [1, 3, 500, 500]   # list shorthand for a repeated field
 *
 * The parser knows no schema: it returns the tree of fields in file order, each with its
 * line:column, and caffe-proto.ts checks names and types against the few caffe.proto messages
 * fcnkit reads. Strings take C escapes (\n, \t, \\, \', \", \xHH, \ooo, \uXXXX) and adjacent
 * quoted strings join; numbers are decimal, hex, octal or floating point (with an optional f
 * suffix, inf and nan). Every error is an FcnkitError BAD_MODEL naming the line and column.
 */
import { FcnkitError } from '../errors';

export interface TextPos {
  /** 1-based. */
  line: number;
  /** 1-based, in UTF-16 code units. */
  col: number;
}

export type TextScalar =
  | { kind: 'string'; value: string }
  /** `text` is the literal as written (without a sign-less '+'); `value` its number. */
  | { kind: 'number'; text: string; value: number }
  /** An identifier: an enum value, true/false, inf, nan (with an optional leading '-'). */
  | { kind: 'ident'; value: string };

export interface TextField {
  name: string;
  pos: TextPos;
  value: TextScalar | TextMessage;
}

export interface TextMessage {
  kind: 'message';
  pos: TextPos;
  fields: TextField[];
}

/** Messages nested deeper than this are refused (a hostile file must not exhaust the stack). */
export const PROTOTXT_MAX_DEPTH = 100;

type Tok =
  | { t: 'ident'; v: string; pos: TextPos }
  | { t: 'number'; v: string; pos: TextPos }
  | { t: 'string'; v: string; pos: TextPos }
  | { t: 'punct'; v: string; pos: TextPos }
  | { t: 'eof'; v: ''; pos: TextPos };

const utf8 = new TextDecoder('utf-8');
const utf8Enc = new TextEncoder();

function isIdentStart(c: string): boolean {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_';
}

function isDigit(c: string): boolean {
  return c >= '0' && c <= '9';
}

function isIdentChar(c: string): boolean {
  return isIdentStart(c) || isDigit(c);
}

function describeTok(tok: Tok): string {
  switch (tok.t) {
    case 'eof':
      return 'the end of the file';
    case 'string':
      return `string ${JSON.stringify(tok.v.length > 40 ? `${tok.v.slice(0, 40)}...` : tok.v)}`;
    default:
      return `'${tok.v}'`;
  }
}

class Lexer {
  private i = 0;
  private line = 1;
  private lineStart = 0;

  constructor(private readonly src: string) {}

  error(pos: TextPos, message: string): FcnkitError {
    return new FcnkitError('BAD_MODEL', `prototxt ${pos.line}:${pos.col}: ${message}`);
  }

  private here(): TextPos {
    return { line: this.line, col: this.i - this.lineStart + 1 };
  }

  private newline(): void {
    this.line++;
    this.lineStart = this.i;
  }

  private skipSpace(): void {
    const s = this.src;
    while (this.i < s.length) {
      const c = s[this.i];
      if (c === '\n') {
        this.i++;
        this.newline();
      } else if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') this.i++;
      else if (c === '#') {
        while (this.i < s.length && s[this.i] !== '\n') this.i++;
      } else break;
    }
  }

  next(): Tok {
    this.skipSpace();
    const s = this.src;
    const pos = this.here();
    if (this.i >= s.length) return { t: 'eof', v: '', pos };
    const c = s[this.i];
    if (isIdentStart(c)) {
      const start = this.i;
      while (this.i < s.length && isIdentChar(s[this.i])) this.i++;
      return { t: 'ident', v: s.slice(start, this.i), pos };
    }
    const c1 = s[this.i + 1] ?? '';
    const c2 = s[this.i + 2] ?? '';
    if (isDigit(c) || (c === '.' && isDigit(c1)) || (c === '-' && (isDigit(c1) || (c1 === '.' && isDigit(c2))))) {
      return { t: 'number', v: this.number(pos), pos };
    }
    if (c === '-' && this.i + 1 < s.length && isIdentStart(s[this.i + 1])) {
      // -inf, -nan, -infinity
      this.i++;
      const start = this.i;
      while (this.i < s.length && isIdentChar(s[this.i])) this.i++;
      return { t: 'ident', v: `-${s.slice(start, this.i)}`, pos };
    }
    if (c === '"' || c === "'") return { t: 'string', v: this.string(pos), pos };
    if ('{}<>:[],;'.includes(c)) {
      this.i++;
      return { t: 'punct', v: c, pos };
    }
    const cp = s.codePointAt(this.i)!;
    throw this.error(pos, `unexpected character ${cp < 0x20 || cp === 0x7f ? `U+${cp.toString(16).padStart(4, '0')}` : `'${String.fromCodePoint(cp)}'`}`);
  }

  private number(pos: TextPos): string {
    const s = this.src;
    const start = this.i;
    if (s[this.i] === '-') this.i++;
    if (s[this.i] === '0' && (s[this.i + 1] === 'x' || s[this.i + 1] === 'X')) {
      this.i += 2;
      const digits = this.i;
      while (this.i < s.length && /[0-9a-fA-F]/.test(s[this.i])) this.i++;
      if (this.i === digits) throw this.error(pos, `malformed hexadecimal number '${s.slice(start, this.i)}'`);
    } else {
      while (this.i < s.length && isDigit(s[this.i])) this.i++;
      if (s[this.i] === '.') {
        this.i++;
        while (this.i < s.length && isDigit(s[this.i])) this.i++;
      }
      if (s[this.i] === 'e' || s[this.i] === 'E') {
        const save = this.i;
        this.i++;
        if (s[this.i] === '+' || s[this.i] === '-') this.i++;
        if (!isDigit(s[this.i] ?? '')) this.i = save;
        else while (this.i < s.length && isDigit(s[this.i])) this.i++;
      }
      if (s[this.i] === 'f' || s[this.i] === 'F') this.i++;
    }
    if (this.i < s.length && isIdentChar(s[this.i])) {
      while (this.i < s.length && isIdentChar(s[this.i])) this.i++;
      throw this.error(pos, `malformed number '${s.slice(start, this.i)}'`);
    }
    return s.slice(start, this.i);
  }

  /** A quoted string; the bytes it denotes are decoded as UTF-8. */
  private string(pos: TextPos): string {
    const s = this.src;
    const quote = s[this.i++];
    const bytes: number[] = [];
    const pushText = (text: string): void => {
      for (const b of utf8Enc.encode(text)) bytes.push(b);
    };
    for (;;) {
      if (this.i >= s.length || s[this.i] === '\n') throw this.error(pos, 'unterminated string');
      const c = s[this.i];
      if (c === quote) {
        this.i++;
        break;
      }
      if (c !== '\\') {
        const cp = s.codePointAt(this.i)!;
        const ch = String.fromCodePoint(cp);
        pushText(ch);
        this.i += ch.length;
        continue;
      }
      const escPos = this.here();
      this.i++;
      const e = s[this.i++];
      switch (e) {
        case 'n': bytes.push(10); break;
        case 't': bytes.push(9); break;
        case 'r': bytes.push(13); break;
        case 'a': bytes.push(7); break;
        case 'b': bytes.push(8); break;
        case 'f': bytes.push(12); break;
        case 'v': bytes.push(11); break;
        case '\\': case "'": case '"': case '?': bytes.push(e.charCodeAt(0)); break;
        case 'x': case 'X': {
          const m = /^[0-9a-fA-F]{1,2}/.exec(s.slice(this.i, this.i + 2));
          if (!m) throw this.error(escPos, 'escape \\x needs hexadecimal digits');
          bytes.push(parseInt(m[0], 16));
          this.i += m[0].length;
          break;
        }
        case 'u': case 'U': {
          const n = e === 'u' ? 4 : 8;
          const hex = s.slice(this.i, this.i + n);
          if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) throw this.error(escPos, `escape \\${e} needs ${n} hexadecimal digits`);
          const cp = parseInt(hex, 16);
          if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) throw this.error(escPos, `escape \\${e}${hex} is not a Unicode scalar value`);
          pushText(String.fromCodePoint(cp));
          this.i += n;
          break;
        }
        default: {
          if (e !== undefined && e >= '0' && e <= '7') {
            const m = /^[0-7]{0,2}/.exec(s.slice(this.i, this.i + 2))!;
            const v = parseInt(e + m[0], 8);
            if (v > 255) throw this.error(escPos, `octal escape \\${e}${m[0]} exceeds one byte`);
            bytes.push(v);
            this.i += m[0].length;
            break;
          }
          throw this.error(escPos, `unknown escape '\\${e ?? ''}'`);
        }
      }
    }
    return utf8.decode(new Uint8Array(bytes));
  }
}

class Parser {
  private tok: Tok;

  constructor(private readonly lex: Lexer) {
    this.tok = lex.next();
  }

  private advance(): Tok {
    const t = this.tok;
    this.tok = this.lex.next();
    return t;
  }

  private fail(message: string, pos: TextPos = this.tok.pos): never {
    throw this.lex.error(pos, message);
  }

  private isPunct(v: string): boolean {
    return this.tok.t === 'punct' && this.tok.v === v;
  }

  private expectPunct(v: string, what: string): void {
    if (!this.isPunct(v)) this.fail(`expected '${v}' ${what} but found ${describeTok(this.tok)}`);
    this.advance();
  }

  /** Fields up to `close` ('}' or '>') or, for the top level, the end of the file. */
  message(pos: TextPos, close: string | null, depth: number): TextMessage {
    if (depth > PROTOTXT_MAX_DEPTH) this.fail(`messages nested deeper than ${PROTOTXT_MAX_DEPTH}`, pos);
    const fields: TextField[] = [];
    for (;;) {
      if (close === null ? this.tok.t === 'eof' : this.isPunct(close)) {
        this.advance();
        return { kind: 'message', pos, fields };
      }
      if (this.tok.t === 'eof') this.fail(`expected '${close}' to close the message opened at ${pos.line}:${pos.col} but found the end of the file`);
      this.field(fields, depth);
      if (this.isPunct(',') || this.isPunct(';')) this.advance();
    }
  }

  private field(out: TextField[], depth: number): void {
    const tok = this.tok;
    if (tok.t === 'punct' && tok.v === '[') this.fail('extension and Any fields ([...]) are not supported in Caffe prototxts');
    if (tok.t !== 'ident' || tok.v.startsWith('-')) this.fail(`expected a field name but found ${describeTok(tok)}`);
    this.advance();
    const name = tok.v;
    const pos = tok.pos;
    if (this.isPunct('{') || this.isPunct('<')) {
      out.push({ name, pos, value: this.nested(depth) });
      return;
    }
    this.expectPunct(':', `after field name '${name}'`);
    if (this.isPunct('[')) {
      this.advance();
      if (this.isPunct(']')) {
        this.advance();
        return;
      }
      for (;;) {
        const vpos = this.tok.pos;
        out.push({ name, pos: vpos, value: this.isPunct('{') || this.isPunct('<') ? this.nested(depth) : this.scalar(name) });
        if (this.isPunct(',')) {
          this.advance();
          continue;
        }
        this.expectPunct(']', `to close the list of '${name}'`);
        return;
      }
    }
    if (this.isPunct('{') || this.isPunct('<')) {
      out.push({ name, pos, value: this.nested(depth) });
      return;
    }
    out.push({ name, pos, value: this.scalar(name) });
  }

  private nested(depth: number): TextMessage {
    const open = this.advance();
    return this.message(open.pos, open.v === '{' ? '}' : '>', depth + 1);
  }

  private scalar(name: string): TextScalar {
    const tok = this.tok;
    switch (tok.t) {
      case 'string': {
        let v = '';
        while (this.tok.t === 'string') v += this.advance().v;
        return { kind: 'string', value: v };
      }
      case 'number': {
        this.advance();
        return { kind: 'number', text: tok.v, value: parseNumber(tok.v) };
      }
      case 'ident':
        this.advance();
        return { kind: 'ident', value: tok.v };
      default:
        return this.fail(`expected a value for field '${name}' but found ${describeTok(tok)}`);
    }
  }
}

/** The value of a number literal as the lexer accepted it (hex and octal integers included). */
function parseNumber(text: string): number {
  const neg = text.startsWith('-');
  const body = neg ? text.slice(1) : text;
  let v: number;
  if (/^0[xX]/.test(body)) v = parseInt(body.slice(2), 16);
  else if (/^0[0-7]+$/.test(body)) v = parseInt(body, 8);
  else v = Number(body.replace(/[fF]$/, ''));
  return neg ? -v : v;
}

/** Parses protobuf text (a Caffe prototxt) into its field tree; BAD_MODEL with line:column on error. */
export function parsePrototxt(text: string): TextMessage {
  if (typeof text !== 'string') {
    throw new FcnkitError('INVALID_ARGUMENT', `Expected a string for prototxt text but received ${text === null ? 'null' : typeof text}`);
  }
  // A UTF-8 byte-order mark is not part of the text.
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const parser = new Parser(new Lexer(src));
  return parser.message({ line: 1, col: 1 }, null, 0);
}
