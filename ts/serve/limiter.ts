/**
 * At most `concurrency` jobs at a time and at most `queue` more waiting; past that, reserve()
 * says no and the caller answers 503 at once. A place is reserved when the request arrives
 * (before its body is read, so a full server reads no more bodies) and kept until the job ends
 * or the request goes away. Waiting jobs start in arrival order.
 */
import { FcnkitError } from '../errors';

export class Slot {
  /** Set once the job may start. */
  private start?: () => void;
  private state: 'reserved' | 'waiting' | 'running' | 'done' = 'reserved';

  constructor(private readonly limiter: Limiter) {}

  /** Runs `job` when a run place is free; rejects ABORTED if `signal` fires while it waits. */
  async run<T>(job: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.state !== 'reserved') throw new FcnkitError('INVALID_ARGUMENT', `a limiter slot runs one job: this one is already ${this.state}`);
    if (signal?.aborted) {
      this.cancel();
      throw new FcnkitError('ABORTED', 'the client went away while the request waited');
    }
    this.state = 'waiting';
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        if (this.state !== 'waiting') return;
        this.cancel();
        reject(new FcnkitError('ABORTED', 'the client went away while the request waited'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.start = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      this.limiter.pump();
    });
    const t0 = performance.now();
    try {
      return await job();
    } finally {
      this.state = 'done';
      this.limiter.finished(this, (performance.now() - t0) / 1000);
    }
  }

  /** Gives the place back if the job never started (an error before it, a client gone). */
  cancel(): void {
    if (this.state === 'reserved' || this.state === 'waiting') {
      this.state = 'done';
      this.limiter.dropped(this);
    }
  }

  /** @internal */
  ready(): boolean {
    return this.state === 'waiting';
  }

  /** @internal */
  begin(): void {
    this.state = 'running';
    this.start?.();
  }
}

export class Limiter {
  private running = 0;
  /** Reserved or waiting, in arrival order. */
  private readonly pending: Slot[] = [];
  /** Mean job time in seconds (moving average), for Retry-After. */
  private meanSeconds = 1;

  constructor(
    readonly concurrency: number,
    readonly queue: number,
    private readonly onChange: (running: number, queued: number) => void = () => {},
  ) {
    if (!Number.isSafeInteger(concurrency) || concurrency < 1) throw new FcnkitError('INVALID_ARGUMENT', `concurrency must be an integer >= 1, not ${concurrency}`);
    if (!Number.isSafeInteger(queue) || queue < 0) throw new FcnkitError('INVALID_ARGUMENT', `queue must be an integer >= 0, not ${queue}`);
  }

  get inFlight(): number {
    return this.running;
  }

  get queued(): number {
    return this.pending.length;
  }

  /** A place for one job, or undefined when every run and queue place is taken. */
  reserve(): Slot | undefined {
    if (this.running + this.pending.length >= this.concurrency + this.queue) return undefined;
    const slot = new Slot(this);
    this.pending.push(slot);
    this.onChange(this.running, this.pending.length);
    return slot;
  }

  /** Seconds until a place is likely free: the work ahead spread over the run places. */
  retryAfterSeconds(): number {
    const ahead = this.running + this.pending.length;
    return Math.min(60, Math.max(1, Math.ceil((ahead / this.concurrency) * this.meanSeconds)));
  }

  /** @internal Starts waiting jobs while run places are free. */
  pump(): void {
    while (this.running < this.concurrency) {
      const i = this.pending.findIndex((s) => s.ready());
      if (i < 0) break;
      const [slot] = this.pending.splice(i, 1);
      this.running++;
      slot.begin();
    }
    this.onChange(this.running, this.pending.length);
  }

  /** @internal */
  finished(_slot: Slot, seconds: number): void {
    this.running--;
    this.meanSeconds = 0.8 * this.meanSeconds + 0.2 * seconds;
    this.pump();
  }

  /** @internal */
  dropped(slot: Slot): void {
    const i = this.pending.indexOf(slot);
    if (i >= 0) this.pending.splice(i, 1);
    this.pump();
  }
}
