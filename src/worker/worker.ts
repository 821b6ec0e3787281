import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { checkSchema } from '../db/migrate.js';
import type { Database, Listener } from '../db/types.js';
import { isPgembedError, PgembedError } from '../errors.js';
import { listPipelines, type Pipeline } from '../pipelines/pipeline.js';
import { providerConfigOf } from '../pipelines/provider.js';
import { type ProbeResult, probeProvider } from '../providers/diagnose.js';
import { createProvider } from '../providers/index.js';
import { LimiterRegistry } from '../providers/limiter.js';
import type { EmbeddingProvider } from '../providers/types.js';
import { buildDeferredIndex } from '../sql/queries/buildDeferredIndex.js';
import { type ClaimedJob, claimJobs } from '../sql/queries/claimJobs.js';
import { extendLeases } from '../sql/queries/extendLeases.js';
import { failJobs } from '../sql/queries/failJobs.js';
import { pausePipeline } from '../sql/queries/pausePipeline.js';
import { pipelineExists } from '../sql/queries/pipelineExists.js';
import { answerProviderTest, latestProviderTestRequest } from '../sql/queries/providerTests.js';
import { pruneErrors } from '../sql/queries/pruneErrors.js';
import { recordErrors } from '../sql/queries/recordErrors.js';
import { recoverExpiredLeases } from '../sql/queries/recoverExpiredLeases.js';
import { requeueJobs } from '../sql/queries/requeueJobs.js';
import { armWakeups, disarmWakeup } from '../sql/queries/wakeups.js';
import { heartbeat, registerWorker, unregisterWorker } from '../sql/queries/workers.js';
import { backoffMs } from './backoff.js';
import { processBatch } from './batch.js';
import { resolveWorkerConfig, type WorkerConfig } from './config.js';
import { WorkerEvents } from './events.js';

export const WAKE_CHANNEL = 'pgembed_wake';
/** Errors caused by one input of a batch, not by the batch: worth retrying document by document. */
const ISOLATED_ERRORS = new Set(['PROVIDER_INPUT_REJECTED', 'INPUT_TOO_LONG']);
/** Pipelines are re-read this often, so new and changed pipelines are picked up without a restart. */
const PIPELINE_REFRESH_MS = 5_000;

export interface WorkerOptions extends Partial<WorkerConfig> {
  db: Database;
  /** Injectable randomness (backoff jitter) for deterministic tests. */
  random?: () => number;
  /** Provider factory; tests and embedders of pgembed may supply their own. */
  providerFor?: (pipeline: Pipeline) => EmbeddingProvider;
  /**
   * The worker's events, when its listeners must be attached before it starts (they would miss
   * `worker:started` on `worker.events`, which exists only once `startWorker` returns).
   */
  events?: WorkerEvents;
}

export interface Worker {
  readonly id: string;
  readonly events: WorkerEvents;
  /**
   * Resolves when every served pipeline's queue holds nothing but failed jobs (and deferred indexes
   * are built); rejects with DRAIN_TIMEOUT after `timeoutMs` (default 60 s).
   */
  drain(options?: { timeoutMs?: number }): Promise<void>;
  /** Graceful: stops claiming, finishes or releases work in flight. Safe to call twice. */
  stop(): Promise<void>;
  readonly stats: WorkerStats;
}

export interface WorkerStats {
  batches: number;
  documents: number;
  embedded: number;
  reused: number;
  failedJobs: number;
  retriedJobs: number;
}

/**
 * Starts a worker: claims batches of jobs, chunks and embeds their documents, writes the chunks back.
 * Any number of workers may run against one database.
 *
 * @example
 * ```ts
 * import { connect, startWorker } from 'pgembed';
 * const db = await connect({ databaseUrl: process.env.DATABASE_URL });
 * const worker = await startWorker({ db, concurrency: 2 });
 * process.once('SIGTERM', () => worker.stop());
 * ```
 */
export async function startWorker(options: WorkerOptions): Promise<Worker> {
  const { db, random = Math.random, providerFor, events = new WorkerEvents(), ...rest } = options;
  const config = resolveWorkerConfig(rest);
  // A worker never installs or upgrades the schema (its role may not, and a worker of another
  // version must not): it runs only against the exact schema this code ships.
  await checkSchema(db);
  const worker = new WorkerImpl(db, config, random, providerFor, events);
  await worker.start();
  return worker;
}

class WorkerImpl implements Worker {
  readonly id = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  readonly stats: WorkerStats = {
    batches: 0,
    documents: 0,
    embedded: 0,
    reused: 0,
    failedJobs: 0,
    retriedJobs: 0,
  };

  private pipelines: Pipeline[] = [];
  private pipelinesLoadedAt = 0;
  private readonly providers = new Map<string, EmbeddingProvider>();
  /** One pacing limiter per (provider, model, endpoint, key), shared by all batches of this worker. */
  private readonly limiters = new LimiterRegistry({
    onRateLimited: (info) => this.events.emit('provider:rate_limited', info),
  });
  /** Highest pgembed.test_provider() request seen; undefined until the first look. */
  private lastProviderTest: number | undefined;
  private testingProviders = false;
  private readonly activeLeases = new Set<string>();
  private readonly abort = new AbortController();
  private listener: Listener | undefined;
  private loops: Promise<void>[] = [];
  private timers: NodeJS.Timeout[] = [];
  private wakeWaiters: (() => void)[] = [];
  private woken = false;
  private rotation = 0;
  private stopping = false;
  private stopped: Promise<void> | undefined;

  constructor(
    private readonly db: Database,
    private readonly config: WorkerConfig,
    private readonly random: () => number,
    private readonly providerFor: ((pipeline: Pipeline) => EmbeddingProvider) | undefined,
    readonly events: WorkerEvents,
  ) {}

  async start(): Promise<void> {
    await registerWorker(this.db, {
      id: this.id,
      hostname: hostname(),
      pid: process.pid,
      pipelines: this.config.pipelines.length ? this.config.pipelines : null,
    });
    this.listener = await this.db.listen(
      WAKE_CHANNEL,
      (pipeline) => {
        // A pipeline this worker has not seen yet (just enabled): re-read the list before looking.
        if (!this.pipelines.some((p) => p.name === pipeline)) this.pipelinesLoadedAt = 0;
        disarmWakeup(this.db, pipeline).catch(() => {});
        this.wake();
      },
      // Notifications sent while the listener was down are lost: look at the queue now.
      () => this.wake(),
    );
    const beat = setInterval(() => void this.heartbeat(), Math.max(100, Math.floor(this.config.leaseMs / 3)));
    beat.unref();
    this.timers.push(beat);
    if (this.config.providerTestPollMs > 0) {
      // Requests from now on are ours to answer; older ones were made before this worker existed.
      this.lastProviderTest = await latestProviderTestRequest(this.db).catch(() => undefined);
      const tests = setInterval(() => void this.answerProviderTests(), this.config.providerTestPollMs);
      tests.unref();
      this.timers.push(tests);
    }
    this.events.emit('worker:started', { workerId: this.id });
    for (let i = 0; i < this.config.concurrency; i++) this.loops.push(this.loop());
  }

  private wake(): void {
    // A wake-up that arrives while no loop sleeps (during the last look before sleeping) must not be
    // lost: the next sleep returns at once.
    this.woken = true;
    const waiters = this.wakeWaiters;
    this.wakeWaiters = [];
    for (const resolve of waiters) resolve();
  }

  private async heartbeat(): Promise<void> {
    try {
      await extendLeases(this.db, { leases: [...this.activeLeases], leaseMs: this.config.leaseMs });
      await heartbeat(this.db, { id: this.id, stats: this.stats });
      await pruneErrors(this.db);
      const recovered = await recoverExpiredLeases(this.db);
      if (recovered > 0) {
        this.events.emit('leases:recovered', { jobs: recovered });
        this.wake();
      }
    } catch (error) {
      this.reportError(error);
    }
  }

  private reportError(error: unknown): void {
    this.events.emit('error', {
      message: error instanceof Error ? error.message : String(error),
      code: isPgembedError(error) ? error.code : ((error as { code?: string })?.code ?? null),
    });
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      try {
        if (await this.runOnce()) {
          failures = 0;
          continue;
        }
        await this.idle();
        failures = 0;
      } catch (error) {
        // The database is unreachable or restarting: back off and try again; the pool reconnects.
        this.reportError(error);
        failures++;
        await this.sleep(Math.min(5_000, 100 * 2 ** Math.min(failures, 6)));
      }
    }
  }

  private async refreshPipelines(): Promise<Pipeline[]> {
    if (Date.now() - this.pipelinesLoadedAt > PIPELINE_REFRESH_MS) {
      const all = await listPipelines(this.db);
      const wanted = new Set(this.config.pipelines);
      this.pipelines = all.filter((p) => p.status === 'active' && (wanted.size === 0 || wanted.has(p.name)));
      this.pipelinesLoadedAt = Date.now();
    }
    return this.pipelines;
  }

  /** Claims and processes one batch from the next pipeline that has work; false if none had. */
  private async runOnce(): Promise<boolean> {
    const pipelines = await this.refreshPipelines();
    for (let i = 0; i < pipelines.length && !this.stopping; i++) {
      const pipeline = pipelines[(this.rotation + i) % pipelines.length]!;
      const lease = randomUUID();
      const jobs = await claimJobs(this.db, {
        pipeline: pipeline.name,
        limit: this.config.batchSize,
        lease,
        leaseMs: this.config.leaseMs,
        workerId: this.id,
      });
      if (jobs.length === 0) continue;
      this.rotation = (this.rotation + i + 1) % pipelines.length;
      await this.runBatch(pipeline, jobs, lease);
      return true;
    }
    return false;
  }

  private async idle(): Promise<void> {
    // Wake-ups from before this point were for work the last look already covered.
    this.woken = false;
    const pipelines = this.pipelines.map((p) => p.name);
    if (pipelines.length > 0) {
      // Arm first, then look once more: a job committed before the arm was seen by this look,
      // one committed after it sends a NOTIFY.
      await armWakeups(this.db, pipelines);
      if (await this.runOnce()) return;
      for (const pipeline of this.pipelines) {
        if (pipeline.indexState !== 'deferred') continue;
        const began = performance.now();
        if (await buildDeferredIndex(this.db, pipeline.name)) {
          this.pipelinesLoadedAt = 0;
          this.events.emit('index:built', { pipeline: pipeline.name, durationMs: performance.now() - began });
        }
      }
    }
    this.events.emit('worker:idle', { workerId: this.id });
    await this.sleep(this.config.pollIntervalMs);
  }

  /** Waits for `ms`, a NOTIFY, or shutdown, whichever comes first. */
  private sleep(ms: number): Promise<void> {
    if (this.stopping || this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeWaiters.push(done);
    });
  }

  private providerKey(pipeline: Pipeline): string {
    return JSON.stringify([pipeline.provider, pipeline.model, pipeline.dimensions, pipeline.providerOptions]);
  }

  private provider(pipeline: Pipeline): EmbeddingProvider {
    const key = this.providerKey(pipeline);
    let provider = this.providers.get(key);
    if (!provider) {
      provider =
        this.providerFor?.(pipeline) ??
        createProvider(providerConfigOf(pipeline), { limiters: this.limiters });
      this.providers.set(key, provider);
    }
    return provider;
  }

  private async runBatch(
    pipeline: Pipeline,
    jobs: ClaimedJob[],
    lease: string,
    isolating = false,
  ): Promise<void> {
    this.activeLeases.add(lease);
    this.events.emit('job:claimed', { pipeline: pipeline.name, jobs: jobs.length });
    const began = performance.now();
    try {
      const outcome = await processBatch({
        db: this.db,
        pipeline,
        provider: this.provider(pipeline),
        jobs,
        lease,
        events: this.events,
        signal: this.abort.signal,
        chunkingBudgetMs: this.config.chunkingBudgetMs,
      });
      // None of our jobs left to complete: they may have gone with their pipeline.
      if (outcome.completed.length === 0 && (await this.droppedMidBatch(pipeline, jobs))) return;
      for (const { job, error } of outcome.unchunkable) await this.fail(pipeline, [job], lease, error);
      this.stats.batches++;
      this.stats.documents += outcome.written;
      this.stats.embedded += outcome.embedded;
      this.stats.reused += outcome.reused;
      this.events.emit('batch:written', {
        pipeline: pipeline.name,
        jobs: outcome.completed.length,
        documents: outcome.written,
        stale: outcome.stale,
        chunksInserted: outcome.chunksInserted,
        chunksDeleted: outcome.chunksDeleted,
        embedded: outcome.embedded,
        reused: outcome.reused,
        durationMs: performance.now() - began,
      });
    } catch (error) {
      // A chunk table dropped with its pipeline fails the batch with "relation … does not exist".
      if (await this.droppedMidBatch(pipeline, jobs)) return;
      if (jobs.length > 1 && isPgembedError(error) && ISOLATED_ERRORS.has(error.code)) {
        // The provider refused one request for one bad input: redo the documents one at a time
        // (same lease) so only the offending document fails.
        for (const job of jobs) await this.runBatch(pipeline, [job], lease, true);
        return;
      }
      await this.handleFailure(pipeline, jobs, lease, error);
    } finally {
      if (!isolating) this.activeLeases.delete(lease);
    }
  }

  /**
   * Whether the pipeline was dropped while this batch was in flight. drop_pipeline() deletes the
   * pipeline's jobs (and with drop_chunks its chunk table), so there is nothing to complete, retry
   * or record: say what happened instead of reporting the SQL error it caused, and stop serving the
   * pipeline. When the check itself fails (database unreachable), the usual failure path runs.
   */
  private async droppedMidBatch(pipeline: Pipeline, jobs: ClaimedJob[]): Promise<boolean> {
    if (await pipelineExists(this.db, pipeline.name).catch(() => true)) return false;
    this.pipelines = this.pipelines.filter((p) => p.name !== pipeline.name);
    this.events.emit('pipeline:dropped', {
      pipeline: pipeline.name,
      jobs: jobs.length,
      message: `pipeline ${pipeline.name} was dropped while its batch was in flight; its ${jobs.length} job${jobs.length === 1 ? ' was' : 's were'} discarded`,
    });
    return true;
  }

  private async handleFailure(
    pipeline: Pipeline,
    jobs: ClaimedJob[],
    lease: string,
    error: unknown,
  ): Promise<void> {
    if (this.stopping && this.abort.signal.aborted) {
      // Shutdown cut the batch short: hand the jobs back without charging an attempt.
      await requeueJobs(this.db, {
        ids: jobs.map((job) => job.id),
        lease,
        delaysMs: jobs.map(() => 0),
        error: null,
        errorCode: null,
        countAttempt: false,
      }).catch((e) => this.reportError(e));
      return;
    }
    const kind = isPgembedError(error) ? error.kind : 'retriable';
    if (kind === 'configuration') {
      await this.pause(pipeline, jobs, lease, error as PgembedError);
      return;
    }
    // Being rate-limited is not the documents' fault: it must not use up their attempts.
    const rateLimited = isPgembedError(error) && error.code === 'PROVIDER_RATE_LIMITED';
    const exhausted = rateLimited ? [] : jobs.filter((job) => job.attempts >= pipeline.maxAttempts);
    const retry =
      kind === 'permanent'
        ? []
        : rateLimited
          ? jobs
          : jobs.filter((job) => job.attempts < pipeline.maxAttempts);
    const fail = kind === 'permanent' ? jobs : exhausted;
    const message = errorMessage(error);
    const code = isPgembedError(error) ? error.code : ((error as { code?: string })?.code ?? null);
    try {
      if (retry.length > 0) {
        const retryAfterSeconds = isPgembedError(error) ? error.retryAfterSeconds : undefined;
        const delaysMs = retry.map((job) =>
          backoffMs(job.attempts, {
            baseMs: this.config.baseBackoffMs,
            maxMs: this.config.maxBackoffMs,
            random: this.random,
            retryAfterSeconds,
          }),
        );
        // The decision is said here, where it is made; the error itself only says what happened.
        const decided = `${message} (will retry in ${formatDelay(Math.min(...delaysMs))}${rateLimited ? ', no attempt charged' : ''})`;
        await requeueJobs(this.db, {
          ids: retry.map((job) => job.id),
          lease,
          delaysMs,
          error: decided,
          errorCode: code,
          countAttempt: !rateLimited,
        });
        await recordErrors(this.db, {
          pipeline: pipeline.name,
          docKeys: retry.map((job) => job.docKey),
          attempts: retry.map((job) => job.attempts),
          workerId: this.id,
          code,
          message: decided,
        });
        this.stats.retriedJobs += retry.length;
        this.events.emit('job:retry', {
          pipeline: pipeline.name,
          jobs: retry.length,
          code,
          message,
          delayMs: Math.min(...delaysMs),
        });
      }
      if (fail.length > 0) {
        await this.fail(
          pipeline,
          fail,
          lease,
          isPgembedError(error) ? error : new PgembedError('PROVIDER_UNAVAILABLE', message, { kind }),
        );
      }
    } catch (inner) {
      // Could not even record the failure (database down): the lease will expire and the jobs return.
      this.reportError(inner);
    }
  }

  /**
   * A configuration error (rejected or missing key, unknown model or deployment) would fail every job
   * of the pipeline the same way: pause the pipeline instead, with the error as its status message,
   * and hand the jobs back without charging an attempt. pgembed.resume_pipeline() resumes it.
   */
  private async pause(
    pipeline: Pipeline,
    jobs: ClaimedJob[],
    lease: string,
    error: PgembedError,
  ): Promise<void> {
    const message = `paused: ${errorMessage(error)} — fix it, then SELECT pgembed.resume_pipeline('${pipeline.name.replace(/'/g, "''")}')`;
    try {
      await requeueJobs(this.db, {
        ids: jobs.map((job) => job.id),
        lease,
        delaysMs: jobs.map(() => 0),
        error: `${errorMessage(error)} (pipeline paused)`,
        errorCode: error.code,
        countAttempt: false,
      });
      const paused = await pausePipeline(this.db, {
        pipeline: pipeline.name,
        message: message.slice(0, 2000),
        workerId: this.id,
        code: error.code,
      });
      this.pipelines = this.pipelines.filter((p) => p.name !== pipeline.name);
      // Rebuilt after resume: environment and options may have changed. Not closed: a batch of
      // another pipeline with the same settings may still be using it.
      this.providers.delete(this.providerKey(pipeline));
      if (paused) {
        this.events.emit('pipeline:paused', { pipeline: pipeline.name, code: error.code, message });
      }
    } catch (inner) {
      this.reportError(inner);
    }
  }

  /** Answers pgembed.test_provider() requests made since the last look, for every pipeline served. */
  private async answerProviderTests(): Promise<void> {
    if (this.testingProviders || this.stopping) return;
    this.testingProviders = true;
    try {
      const latest = await latestProviderTestRequest(this.db);
      const previous = this.lastProviderTest ?? 0;
      this.lastProviderTest = latest;
      if (latest <= previous) return;
      // Paused pipelines too: testing is how one checks a fix before resuming.
      const wanted = new Set(this.config.pipelines);
      const pipelines = (await listPipelines(this.db)).filter(
        (p) => p.status !== 'disabled' && (wanted.size === 0 || wanted.has(p.name)),
      );
      for (const pipeline of pipelines) {
        const result = await this.probe(pipeline);
        // Requests between the two looks all get the same answer (at most the last 20).
        for (let id = Math.max(previous + 1, latest - 19); id <= latest; id++) {
          await answerProviderTest(this.db, {
            requestId: id,
            pipeline: pipeline.name,
            workerId: this.id,
            result,
          });
        }
        this.events.emit('provider:tested', {
          pipeline: pipeline.name,
          ok: result.ok,
          latencyMs: result.latency_ms ?? 0,
        });
      }
    } catch (error) {
      const code = (error as { code?: string })?.code;
      // 42P01: a schema older than migration 0005; nothing to answer.
      if (code !== '42P01') this.reportError(error);
    } finally {
      this.testingProviders = false;
    }
  }

  /** Embeds one probe text with the pipeline's provider: what test_provider() and doctor report. */
  async probe(pipeline: Pipeline): Promise<ProbeResult> {
    return probeProvider(this.db, pipeline, () => this.provider(pipeline), this.id, this.abort.signal);
  }

  private async fail(
    pipeline: Pipeline,
    jobs: ClaimedJob[],
    lease: string,
    error: PgembedError,
  ): Promise<void> {
    const message = errorMessage(error);
    const exhausted = error.kind !== 'permanent' && jobs.every((job) => job.attempts >= pipeline.maxAttempts);
    const decided = exhausted
      ? `${message} (failed after ${attemptsOf(jobs)})`
      : `${message} (failed on attempt ${attemptsOf(jobs, false)}, not retried: the error is permanent)`;
    await failJobs(this.db, { ids: jobs.map((job) => job.id), lease, error: decided, errorCode: error.code });
    await recordErrors(this.db, {
      pipeline: pipeline.name,
      docKeys: jobs.map((job) => job.docKey),
      attempts: jobs.map((job) => job.attempts),
      workerId: this.id,
      code: error.code,
      message: decided,
    });
    this.stats.failedJobs += jobs.length;
    this.events.emit('job:failed', { pipeline: pipeline.name, jobs: jobs.length, code: error.code, message });
  }

  async drain(options: { timeoutMs?: number } = {}): Promise<void> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    // Pipelines resumed or created a moment ago count too.
    this.pipelinesLoadedAt = 0;
    for (;;) {
      const names = (await this.refreshPipelines()).map((p) => p.name);
      const { rows } = await this.db.query<{ n: string }>(
        `SELECT ((SELECT count(*) FROM pgembed.queue WHERE pipeline = ANY($1::text[]) AND status <> 'failed')
               + (SELECT count(*) FROM pgembed.queue_log WHERE pipeline = ANY($1::text[])))::text AS n`,
        [names],
      );
      const deferred = this.pipelines.some((p) => p.indexState === 'deferred');
      if (rows[0]?.n === '0' && !deferred) return;
      if (Date.now() > deadline) {
        throw new PgembedError(
          'DRAIN_TIMEOUT',
          `queue not drained within ${options.timeoutMs ?? 60_000} ms (${rows[0]?.n} jobs left)`,
          {
            kind: 'retriable',
          },
        );
      }
      this.wake();
      this.pipelinesLoadedAt = 0;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    this.wake();
    const finished = Promise.allSettled(this.loops);
    const timedOut = await Promise.race([
      finished.then(() => false),
      new Promise<boolean>((resolve) =>
        setTimeout(() => resolve(true), this.config.shutdownTimeoutMs).unref(),
      ),
    ]);
    if (timedOut) {
      // Batches still waiting on a provider: abort them; their jobs are handed back.
      this.abort.abort(new PgembedError('PROVIDER_TIMEOUT', 'worker shutting down'));
      await finished;
    }
    for (const timer of this.timers) clearInterval(timer);
    await this.listener?.close().catch(() => {});
    await unregisterWorker(this.db, this.id).catch(() => {});
    for (const provider of this.providers.values()) await provider.close?.().catch(() => {});
    this.events.emit('worker:stopped', { workerId: this.id });
  }
}

/** The text kept with a failed job: the error's message, never its payload. */
function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message.slice(0, 2000);
  return String(error).slice(0, 2000);
}

/** "3 attempts", "2–4 attempts" (or without the noun): what the jobs used, for their last_error. */
function attemptsOf(jobs: ClaimedJob[], noun = true): string {
  const counts = jobs.map((job) => job.attempts);
  const [low, high] = [Math.min(...counts), Math.max(...counts)];
  const range = low === high ? String(low) : `${low}–${high}`;
  return noun ? `${range} ${high === 1 ? 'attempt' : 'attempts'}` : range;
}

/** "0.8 s", "12 s", "10 min": a retry delay as an operator reads it. */
function formatDelay(ms: number): string {
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  return `${Math.round(ms / 60_000)} min`;
}
