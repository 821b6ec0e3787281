import { EventEmitter } from 'node:events';

/** Events a worker emits: its observability API (logs, metrics and tests subscribe to them). */
export interface WorkerEventMap {
  'worker:started': { workerId: string };
  'worker:stopped': { workerId: string };
  'worker:idle': { workerId: string };
  'job:claimed': { pipeline: string; jobs: number };
  'batch:written': {
    pipeline: string;
    jobs: number;
    documents: number;
    stale: number;
    chunksInserted: number;
    chunksDeleted: number;
    embedded: number;
    reused: number;
    durationMs: number;
  };
  'job:retry': { pipeline: string; jobs: number; code: string | null; message: string; delayMs: number };
  'job:failed': { pipeline: string; jobs: number; code: string | null; message: string };
  'provider:called': {
    pipeline: string;
    provider: string;
    model: string;
    inputs: number;
    /** Input tokens as the provider counts them (an estimate for providers without a shipped tokenizer). */
    tokens: number;
    durationMs: number;
  };
  /** The provider answered 429: the shared limiter halved its concurrency and pauses for `retryAfterSeconds`. */
  'provider:rate_limited': {
    provider: string;
    model: string;
    retryAfterSeconds: number;
    concurrency: number;
  };
  /**
   * A configuration error (rejected key, missing key variable, unknown model) paused the pipeline:
   * its jobs wait, uncharged, until `pgembed.resume_pipeline(name)`.
   */
  'pipeline:paused': { pipeline: string; code: string; message: string };
  /**
   * pgembed.drop_pipeline() removed the pipeline while this worker held a batch of its jobs: the
   * jobs went with it, nothing was written or recorded, and the worker serves the other pipelines.
   */
  'pipeline:dropped': { pipeline: string; jobs: number; message: string };
  /** A `pgembed.test_provider()` request was answered. */
  'provider:tested': { pipeline: string; ok: boolean; latencyMs: number };
  'leases:recovered': { jobs: number };
  'index:built': { pipeline: string; durationMs: number };
  /** Something went wrong outside any one job (database unreachable, listener lost). */
  error: { message: string; code: string | null };
}

export type WorkerEventName = keyof WorkerEventMap;

/**
 * A typed emitter whose listeners can never kill the worker: a listener that throws is reported
 * on 'error' (or dropped if that one throws too).
 */
export class WorkerEvents {
  private readonly emitter = new EventEmitter();

  on<E extends WorkerEventName>(event: E, listener: (payload: WorkerEventMap[E]) => void): () => void {
    const safe = (payload: WorkerEventMap[E]) => {
      try {
        listener(payload);
      } catch (error) {
        if (event !== 'error')
          this.emit('error', { message: `event listener for ${event} threw: ${String(error)}`, code: null });
      }
    };
    this.emitter.on(event, safe);
    return () => this.emitter.off(event, safe);
  }

  emit<E extends WorkerEventName>(event: E, payload: WorkerEventMap[E]): void {
    // Node's emitter throws an 'error' nobody listens to; a worker reports it to whoever listens.
    if (event === 'error' && this.emitter.listenerCount('error') === 0) return;
    this.emitter.emit(event, payload);
  }
}
