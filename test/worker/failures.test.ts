/**
 * Provider failures seen by a worker, against an emulated OpenAI server: retriable errors are
 * retried with backoff then marked failed with their error once attempts run out; permanent ones
 * fail at once; a wrong dimension writes nothing; retry_failed() gives failed jobs another go.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { enableDocumentChunking } from '../../src/pipelines/enable.js';
import { startWorker, type Worker } from '../../src/worker/worker.js';
import { BACKENDS, hasPostgres, openBackend, type TestBackend } from '../support/databases.js';
import { checkInvariants } from '../support/invariants.js';
import { EMULATOR_KEY, type OpenAIEmulator, startOpenAIEmulator } from '../support/openai-emulator.js';
import { waitFor } from '../support/processes.js';

describe.each(BACKENDS)('provider failures on %s', (kind) => {
  let backend: TestBackend;
  let emulator: OpenAIEmulator;
  let worker: Worker | undefined;

  beforeEach(async (context) => {
    if (kind === 'postgres' && !hasPostgres()) context.skip();
    process.env.PGEMBED_TEST_OPENAI_KEY = EMULATOR_KEY;
    backend = await openBackend(kind, 'failures');
    emulator = await startOpenAIEmulator();
    await backend.db.exec(`CREATE TABLE docs (id int PRIMARY KEY, body text)`);
    await backend.db.query(`INSERT INTO docs SELECT i, 'document number ' || i FROM generate_series(1, 5) i`);
    await enableDocumentChunking(backend.db, {
      table: 'docs',
      column: 'body',
      provider: 'openai',
      model: 'text-embedding-3-small',
      dimensions: 16,
      baseUrl: emulator.baseUrl,
      apiKeyEnv: 'PGEMBED_TEST_OPENAI_KEY',
      maxAttempts: 3,
    });
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    await emulator?.close();
    await backend?.cleanup();
  });

  const jobs = async () =>
    (
      await backend.db.query<{
        status: string;
        attempts: number;
        last_error: string | null;
        last_error_code: string | null;
      }>(`SELECT status, attempts, last_error, last_error_code FROM pgembed.queue ORDER BY id`)
    ).rows;
  const chunkCount = async () =>
    (await backend.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM docs_chunks`)).rows[0]!.n;

  it('retries 500s with backoff, then keeps the error on failed jobs; retry_failed() recovers them', async () => {
    emulator.fault = 'server_error';
    worker = await startWorker({ db: backend.db, baseBackoffMs: 20, maxBackoffMs: 50, pollIntervalMs: 20 });
    await waitFor(async () => (await jobs()).every((job) => job.status === 'failed'), 30_000, 'jobs to fail');
    const failed = await jobs();
    expect(failed).toHaveLength(5);
    for (const job of failed) {
      expect(job.attempts).toBe(3);
      expect(job.last_error_code).toBe('PROVIDER_UNAVAILABLE');
      expect(job.last_error).toMatch(/server had an error/);
    }
    expect(await chunkCount()).toBe(0);
    const { rows: errors } = await backend.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pgembed.errors`,
    );
    expect(errors[0]!.n).toBe(15);
    expect(emulator.requests).toBeGreaterThanOrEqual(3);

    emulator.fault = undefined;
    const { rows } = await backend.db.query<{ n: string }>(`SELECT pgembed.retry_failed('docs') AS n`);
    expect(Number(rows[0]!.n)).toBe(5);
    await worker.drain({ timeoutMs: 30_000 });
    expect(await checkInvariants(backend.db, 'docs')).toMatchObject({ documents: 5, stale: [], orphans: 0 });
    expect(await jobs()).toEqual([]);
  });

  it('fails a 400 at once, and never writes vectors of the wrong dimension', async () => {
    emulator.fault = 'bad_request';
    worker = await startWorker({ db: backend.db, baseBackoffMs: 20, pollIntervalMs: 20 });
    await waitFor(async () => (await jobs()).every((job) => job.status === 'failed'), 30_000, 'jobs to fail');
    for (const job of await jobs()) {
      expect(job).toMatchObject({ attempts: 1, last_error_code: 'PROVIDER_INPUT_REJECTED' });
    }
    await backend.db.query(`SELECT pgembed.retry_failed()`);
    emulator.fault = 'wrong_dimensions';
    await waitFor(
      async () =>
        (await jobs()).every(
          (job) => job.status === 'failed' && job.last_error_code === 'DIMENSION_MISMATCH',
        ),
      30_000,
      'dimension mismatches',
    );
    expect(await chunkCount()).toBe(0);
  });

  it('a request refused for one bad input fails only that document', async () => {
    emulator.poison = 'number 3';
    worker = await startWorker({ db: backend.db, batchSize: 10, pollIntervalMs: 20 });
    await worker.drain({ timeoutMs: 30_000 });
    const failed = await jobs();
    expect(failed).toEqual([
      expect.objectContaining({ status: 'failed', last_error_code: 'PROVIDER_INPUT_REJECTED' }),
    ]);
    const { rows } = await backend.db.query(`SELECT DISTINCT doc_id FROM docs_chunks ORDER BY doc_id`);
    expect(rows).toEqual([{ doc_id: 1 }, { doc_id: 2 }, { doc_id: 4 }, { doc_id: 5 }]);
  });

  it('honours Retry-After on 429: the job waits at least that long', async () => {
    emulator.fault = 'rate_limited';
    worker = await startWorker({ db: backend.db, baseBackoffMs: 1, maxBackoffMs: 5, pollIntervalMs: 20 });
    await waitFor(
      async () => (await jobs()).some((job) => job.last_error_code === 'PROVIDER_RATE_LIMITED'),
      30_000,
      'a 429',
    );
    const { rows } = await backend.db.query<{ wait_ms: number }>(
      `SELECT extract(epoch FROM (run_at - now())) * 1000 AS wait_ms FROM pgembed.queue WHERE status = 'pending'`,
    );
    expect(rows.length).toBeGreaterThan(0);
    expect(Math.max(...rows.map((r) => Number(r.wait_ms)))).toBeGreaterThan(500);
    emulator.fault = undefined;
    await worker.drain({ timeoutMs: 30_000 });
    expect(await checkInvariants(backend.db, 'docs')).toMatchObject({ documents: 5, stale: [] });
  });
});
