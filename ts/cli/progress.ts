/**
 * Progress of long work: on a terminal, one bar redrawn in place on stderr (items done, rate,
 * ETA), with messages printed above it; otherwise plain lines, one per item, on stdout (errors
 * on stderr), which a log or CI keeps readable. Silent with --json (the JSON goes to stdout).
 */

export interface ProgressOptions {
  total: number;
  /** Draw a bar (stderr is a terminal). */
  tty: boolean;
  /** Print nothing but errors (--json). */
  quiet?: boolean;
  unit?: string;
  out?: NodeJS.WritableStream;
  err?: NodeJS.WritableStream & { columns?: number };
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

export class Progress {
  private done = 0;
  private failed = 0;
  private readonly start = Date.now();
  private lastDraw = 0;
  private drawn = false;
  private readonly out: NodeJS.WritableStream;
  private readonly err: NodeJS.WritableStream & { columns?: number };

  constructor(private readonly o: ProgressOptions) {
    this.out = o.out ?? process.stdout;
    this.err = o.err ?? (process.stderr as NodeJS.WritableStream & { columns?: number });
  }

  get counts(): { done: number; failed: number; total: number } {
    return { done: this.done, failed: this.failed, total: this.o.total };
  }

  /** Items per second so far. */
  get rate(): number {
    const s = (Date.now() - this.start) / 1000;
    return s > 0 ? this.done / s : 0;
  }

  /** One item finished; `line` describes it (plain mode prints it). */
  item(ok: boolean, line: string): void {
    this.done++;
    if (!ok) this.failed++;
    if (!ok) this.error(line);
    else if (!this.o.quiet && !this.o.tty) this.out.write(`${line}\n`);
    this.draw(this.done === this.o.total);
  }

  /** An error line (always shown, on stderr, above the bar). */
  error(line: string): void {
    this.clear();
    this.err.write(`${line}\n`);
    this.draw(true);
  }

  /** A message (not in quiet mode). */
  info(line: string): void {
    if (this.o.quiet) return;
    this.clear();
    (this.o.tty ? this.err : this.out).write(`${line}\n`);
    this.draw(true);
  }

  /** Removes the bar (before the summary). */
  finish(): void {
    this.clear();
  }

  private clear(): void {
    if (this.drawn) {
      this.err.write('\r\x1b[K');
      this.drawn = false;
    }
  }

  private draw(force: boolean): void {
    if (!this.o.tty || this.o.quiet) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const { total } = this.o;
    const rate = this.rate;
    const eta = rate > 0 ? (total - this.done) / rate : NaN;
    const unit = this.o.unit ?? 'images';
    const stats = ` ${this.done}/${total} ${unit}  ${rate.toFixed(rate < 10 ? 2 : 1)}/s  ETA ${formatDuration(eta)}${this.failed ? `  ${this.failed} failed` : ''}`;
    const columns = this.err.columns ?? 80;
    const width = Math.max(10, Math.min(40, columns - stats.length - 3));
    const filled = total > 0 ? Math.round((width * this.done) / total) : width;
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
    this.err.write(`\r\x1b[K${bar}${stats}`);
    this.drawn = true;
  }
}
