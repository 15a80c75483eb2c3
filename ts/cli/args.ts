/**
 * Command-line parsing: each command declares its options; anything else is a UsageError
 * (exit code 2, with the command's usage text).
 */
import { parseArgs } from 'node:util';

export class UsageError extends Error {
  constructor(message: string, readonly command?: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type OptionType = 'string' | 'boolean';

export interface OptionSpec {
  type: OptionType;
  /** May be given more than once (values collected in order). */
  multiple?: boolean;
  short?: string;
}

export type OptionSpecs = Record<string, OptionSpec>;

export interface Parsed {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** Parses argv against the specs; `--help`/`-h` is always accepted. */
export function parseCommand(command: string, argv: string[], specs: OptionSpecs): Parsed {
  const options: Record<string, { type: OptionType; multiple?: boolean; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, s] of Object.entries(specs)) {
    options[name] = { type: s.type };
    if (s.multiple) options[name].multiple = true;
    if (s.short) options[name].short = s.short;
  }
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: values as Parsed['values'], positionals };
  } catch (err) {
    const e = err as Error & { code?: string };
    throw new UsageError(describeParseError(e, specs), command);
  }
}

function describeParseError(e: Error & { code?: string }, specs: OptionSpecs): string {
  const opt = /'(-[^' ]+)/.exec(e.message)?.[1];
  switch (e.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const name = opt?.replace(/^-+/, '').split('=')[0] ?? '';
      const close = Object.keys(specs).find((k) => k.startsWith(name) || name.startsWith(k));
      return `unknown option '${opt ?? e.message}'${close ? ` (did you mean --${close}?)` : ''}`;
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const name = /--[A-Za-z0-9-]+/.exec(e.message)?.[0] ?? opt?.split(' ')[0] ?? '';
      if (/argument missing|ambiguous/.test(e.message)) return `option '${name}' needs a value`;
      if (/does not take an argument/.test(e.message)) return `option '${name}' does not take a value`;
      return e.message.split('\n')[0].replace(/^Option/, 'option');
    }
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument: ${e.message}`;
    default:
      return e.message;
  }
}

// ---- typed accessors ------------------------------------------------------------------------

export function stringOpt(p: Parsed, name: string, command: string): string | undefined {
  const v = p.values[name];
  if (v === undefined) return undefined;
  if (Array.isArray(v)) return v[v.length - 1];
  if (typeof v !== 'string') throw new UsageError(`option '--${name}' needs a value`, command);
  if (v === '') throw new UsageError(`option '--${name}' needs a non-empty value`, command);
  return v;
}

export function listOpt(p: Parsed, name: string): string[] {
  const v = p.values[name];
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [String(v)];
}

export function boolOpt(p: Parsed, name: string): boolean {
  return p.values[name] === true;
}

export function intOpt(p: Parsed, name: string, command: string, range: { min: number; max?: number }): number | undefined {
  const s = stringOpt(p, name, command);
  if (s === undefined) return undefined;
  if (!/^[0-9]+$/.test(s)) throw new UsageError(`option '--${name}' expects an integer but received '${s}'`, command);
  const n = Number(s);
  if (n < range.min || (range.max !== undefined && n > range.max)) {
    throw new UsageError(`option '--${name}' must be ${range.max === undefined ? `at least ${range.min}` : `from ${range.min} to ${range.max}`} (received ${s})`, command);
  }
  return n;
}

export function numberOpt(p: Parsed, name: string, command: string, range: { min: number; max: number }): number | undefined {
  const s = stringOpt(p, name, command);
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!/^[0-9.eE+-]+$/.test(s) || !Number.isFinite(n)) throw new UsageError(`option '--${name}' expects a number but received '${s}'`, command);
  if (n < range.min || n > range.max) throw new UsageError(`option '--${name}' must be from ${range.min} to ${range.max} (received ${s})`, command);
  return n;
}

/** '1x3x500x500' -> [1, 3, 500, 500] */
export function parseShape(s: string, command: string, what = '--shape'): number[] {
  if (!/^[0-9]+(x[0-9]+)*$/i.test(s)) throw new UsageError(`${what} expects dimensions like 1x3x500x500 but received '${s}'`, command);
  const dims = s.toLowerCase().split('x').map(Number);
  if (dims.some((d) => d < 1 || d > 1e6)) throw new UsageError(`${what}: every dimension must be from 1 to 1000000 (received '${s}')`, command);
  return dims;
}
