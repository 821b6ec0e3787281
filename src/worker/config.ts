import { PgembedError } from '../errors.js';

/** Worker settings. Every field has a default; `resolveWorkerConfig` validates what callers pass. */
export interface WorkerConfig {
  /** Batches processed at once by this worker (each on its own connection). */
  concurrency: number;
  /** Documents claimed per batch. */
  batchSize: number;
  /**
   * How long a claimed job stays ours without a heartbeat. Heartbeats renew it every third of
   * this, so it only runs out when the worker died or stalled; it bounds how long a crashed
   * worker's jobs wait before another worker takes them.
   */
  leaseMs: number;
  /** Fallback poll interval while idle; NOTIFY normally wakes the worker long before. */
  pollIntervalMs: number;
  /** First retry delay; doubled per attempt, with jitter, capped at `maxBackoffMs`. */
  baseBackoffMs: number;
  maxBackoffMs: number;
  /** How long `stop()` waits for batches in flight before abandoning them. */
  shutdownTimeoutMs: number;
  /** Pipelines to serve; all when empty. */
  pipelines: string[];
  /**
   * How often to look for pgembed.test_provider() requests (one read of a sequence); 0 disables.
   * 1 s: test_provider() callers wait at most about this long plus the probe itself.
   */
  providerTestPollMs: number;
  /**
   * How long chunking one document may take (wall clock: chunking is synchronous and blocks the
   * worker's loop, heartbeats included); a document over it fails with CHUNKING_TIMEOUT.
   */
  chunkingBudgetMs: number;
}

export const workerDefaults = {
  concurrency: 1,
  // 128: measured ~35 % more ingest throughput than 64 (fewer round trips per chunk); a claim takes
  // whatever is due, so small writes are still picked up one by one.
  batchSize: 128,
  // 60 s: the longest provider call we allow is 30 s (provider timeout), plus slack for write-back.
  leaseMs: 60_000,
  pollIntervalMs: 5_000,
  baseBackoffMs: 1_000,
  // 10 min: long enough to ride out a provider outage without hammering it, short enough to notice recovery.
  maxBackoffMs: 600_000,
  shutdownTimeoutMs: 30_000,
  pipelines: [],
  providerTestPollMs: 1_000,
  // Replaced by a quarter of leaseMs when not given (15 s for the default lease): ordinary documents
  // chunk at several MB/s, and a loop blocked that long still renews its leases in time (heartbeats
  // every third of the lease, so the latest one comes 7/12 of a lease after the previous).
  chunkingBudgetMs: 0,
} satisfies WorkerConfig;

const INTEGER_RANGES: Record<Exclude<keyof WorkerConfig, 'pipelines'>, [number, number]> = {
  concurrency: [1, 64],
  batchSize: [1, 2048],
  leaseMs: [500, 3_600_000],
  pollIntervalMs: [10, 3_600_000],
  baseBackoffMs: [1, 3_600_000],
  maxBackoffMs: [1, 86_400_000],
  shutdownTimeoutMs: [0, 3_600_000],
  providerTestPollMs: [0, 3_600_000],
  chunkingBudgetMs: [1, 900_000],
};

export function resolveWorkerConfig(input: Partial<WorkerConfig> = {}): WorkerConfig {
  const given = stripUndefined(input);
  const config: WorkerConfig = { ...workerDefaults, ...given };
  if (given.chunkingBudgetMs === undefined) config.chunkingBudgetMs = Math.floor(config.leaseMs / 4);
  for (const [key, [min, max]] of Object.entries(INTEGER_RANGES)) {
    const value = config[key as keyof typeof INTEGER_RANGES];
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new PgembedError(
        'CONFIG_INVALID',
        `${key} must be an integer between ${min} and ${max} (got ${value})`,
      );
    }
  }
  if (config.chunkingBudgetMs * 2 > config.leaseMs) {
    throw new PgembedError(
      'CONFIG_INVALID',
      `chunkingBudgetMs must be at most half of leaseMs (got ${config.chunkingBudgetMs} with leaseMs ${config.leaseMs}): chunking blocks the heartbeats that renew the lease`,
    );
  }
  if (config.maxBackoffMs < config.baseBackoffMs) {
    throw new PgembedError('CONFIG_INVALID', 'maxBackoffMs must be at least baseBackoffMs');
  }
  if (
    !Array.isArray(config.pipelines) ||
    config.pipelines.some((name) => typeof name !== 'string' || !name)
  ) {
    throw new PgembedError('CONFIG_INVALID', 'pipelines must be a list of pipeline names');
  }
  return config;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
