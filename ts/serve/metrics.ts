/**
 * The server's Prometheus metrics (prom-client), in a registry of its own so that two servers
 * in one process (tests) keep theirs apart. The process's own (RSS, heap, event-loop lag, GC)
 * come with them.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class ServeMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'method' | 'route' | 'status'>;
  readonly duration: Histogram<'method' | 'route'>;
  readonly inFlight: Gauge;
  readonly queued: Gauge;
  readonly runSeconds: Histogram;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'fcnkit_http_requests_total',
      help: 'HTTP requests answered, by method, route and status',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.duration = new Histogram({
      name: 'fcnkit_http_request_duration_seconds',
      help: 'Time from a request arriving to its response sent',
      labelNames: ['method', 'route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.inFlight = new Gauge({ name: 'fcnkit_runs_in_flight', help: 'Segmentations running now', registers });
    this.queued = new Gauge({ name: 'fcnkit_queue_length', help: 'Segmentation requests admitted and waiting for a run slot', registers });
    this.runSeconds = new Histogram({
      name: 'fcnkit_model_run_seconds',
      help: 'Time of one model run (the network only: no decoding or encoding)',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
