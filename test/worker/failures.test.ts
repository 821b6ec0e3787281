/**
 * Provider failures seen by a worker, against an emulated OpenAI server: retriable errors are
 * retried with backoff then marked failed with their error once attempts run out; permanent ones
 * fail at once; a wrong dimension writes nothing; retry_failed() gives failed jobs another go.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { enableDocumentChunking } from '../../src/pipelines/enable.js';
import { providerConfigOf } from '../../src/pipelines/provider.js';
import { createProvider } from '../../src/providers/index.js';
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
      // The worker's decision, not a promise the provider's message made.
      expect(job.last_error).not.toMatch(/will retry/);
      expect(job.last_error).toMatch(/\(failed after 3 attempts\)$/);
      // The emulator quotes the Authorization header and the input back.
      expect(job.last_error).not.toContain(EMULATOR_KEY.slice(0, 12));
      expect(job.last_error).not.toContain('document number');
    }
    expect(await chunkCount()).toBe(0);
    const { rows: errors } = await backend.db.query<{ attempt: number; message: string }>(
      `SELECT attempt, message FROM pgembed.errors`,
    );
    expect(errors).toHaveLength(15);
    for (const { attempt, message } of errors) {
      expect(message).toMatch(attempt < 3 ? /\(will retry in \d+\.\d s\)$/ : /\(failed after 3 attempts\)$/);
    }
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
      expect(job.last_error).toMatch(/\(failed on attempt 1, not retried: the error is permanent\)$/);
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

  const pipelineStatus = async () =>
    (
      await backend.db.query<{
        status: string;
        status_message: string | null;
        pending: number;
        failed: number;
      }>(
        `SELECT status, status_message, pending::int, failed::int FROM pgembed.queue_status WHERE pipeline = 'docs'`,
      )
    ).rows[0]!;

  it('a rejected key (401) pauses the pipeline instead of failing jobs; resume_pipeline() resumes it', async () => {
    emulator.fault = 'unauthorized';
    worker = await startWorker({ db: backend.db, baseBackoffMs: 20, pollIntervalMs: 20 });
    const paused: string[] = [];
    worker.events.on('pipeline:paused', (event) => paused.push(event.code));
    await waitFor(async () => (await pipelineStatus()).status === 'paused', 30_000, 'the pipeline to pause');
    const status = await pipelineStatus();
    expect(status).toMatchObject({ pending: 5, failed: 0 });
    expect(status.status_message).toMatch(/rejected the API key in PGEMBED_TEST_OPENAI_KEY \(HTTP 401/);
    expect(status.status_message).toMatch(/resume_pipeline\('docs'\)/);
    expect(status.status_message).not.toContain(EMULATOR_KEY);
    // Nothing charged: the documents did nothing wrong.
    for (const job of await jobs()) expect(job).toMatchObject({ status: 'pending', attempts: 0 });
    const { rows: errors } = await backend.db.query<{ code: string; doc_key: unknown }>(
      `SELECT code, doc_key FROM pgembed.errors`,
    );
    expect(errors).toEqual([{ code: 'PROVIDER_AUTH', doc_key: null }]);
    // Paused means no more requests: give the worker time to (wrongly) try again.
    const requests = emulator.requests;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(emulator.requests).toBe(requests);

    emulator.fault = undefined;
    const { rows } = await backend.db.query<{ n: string }>(`SELECT pgembed.resume_pipeline('docs') AS n`);
    expect(Number(rows[0]!.n)).toBe(5);
    await worker.drain({ timeoutMs: 30_000 });
    expect(await checkInvariants(backend.db, 'docs')).toMatchObject({ documents: 5, stale: [], orphans: 0 });
    expect(await pipelineStatus()).toMatchObject({ status: 'active', status_message: null });
    expect(paused).toEqual(['PROVIDER_AUTH']);
  });

  it('a missing key variable pauses the pipeline with the variable named', async () => {
    delete process.env.PGEMBED_TEST_OPENAI_KEY;
    worker = await startWorker({ db: backend.db, pollIntervalMs: 20 });
    await waitFor(async () => (await pipelineStatus()).status === 'paused', 30_000, 'the pipeline to pause');
    expect((await pipelineStatus()).status_message).toMatch(
      /Environment variable PGEMBED_TEST_OPENAI_KEY is not set/,
    );
    expect(emulator.requests).toBe(0);
    process.env.PGEMBED_TEST_OPENAI_KEY = EMULATOR_KEY;
    await backend.db.query(`SELECT pgembed.resume_pipeline('docs')`);
    await worker.drain({ timeoutMs: 30_000 });
    expect(await checkInvariants(backend.db, 'docs')).toMatchObject({ documents: 5, stale: [] });
  });

  it('resume_pipeline() refuses unknown pipelines', async () => {
    await expect(backend.db.query(`SELECT pgembed.resume_pipeline('nope')`)).rejects.toThrow(
      /pipeline "nope" does not exist/,
    );
  });

  it('a long Retry-After reschedules the jobs (run_at) without charging an attempt', async () => {
    emulator.fault = 'rate_limited';
    emulator.retryAfter = '120';
    worker = await startWorker({ db: backend.db, pollIntervalMs: 20 });
    await waitFor(
      async () => (await jobs()).some((job) => job.last_error_code === 'PROVIDER_RATE_LIMITED'),
      30_000,
      'a 429',
    );
    const { rows } = await backend.db.query<{ wait_s: number; attempts: number }>(
      `SELECT extract(epoch FROM (run_at - now()))::float8 AS wait_s, attempts FROM pgembed.queue`,
    );
    expect(rows).toHaveLength(5);
    for (const row of rows) {
      expect(row.wait_s).toBeGreaterThan(100);
      expect(row.attempts).toBe(0);
    }
    // One request, not a connection held open retrying.
    expect(emulator.requests).toBe(1);
  });

  it('malformed JSON and a hung server are retried (PROVIDER_BAD_RESPONSE, PROVIDER_TIMEOUT)', async () => {
    emulator.fault = 'malformed_json';
    await backend.db.query(`SELECT pgembed.set_provider_options('docs', '{"timeout_ms": 200}')`);
    worker = await startWorker({ db: backend.db, baseBackoffMs: 20, maxBackoffMs: 40, pollIntervalMs: 20 });
    await waitFor(
      async () => (await jobs()).some((job) => job.last_error_code === 'PROVIDER_BAD_RESPONSE'),
      30_000,
      'a bad response',
    );
    emulator.fault = 'hang';
    await waitFor(
      async () => (await jobs()).some((job) => job.last_error_code === 'PROVIDER_TIMEOUT'),
      30_000,
      'a timeout',
    );
    emulator.fault = undefined;
    // Jobs still in flight may yet use up their attempts: let every job settle (done or failed)
    // before giving the failed ones another go.
    await waitFor(
      async () => (await jobs()).every((job) => job.status === 'failed'),
      30_000,
      'jobs to settle',
    );
    await backend.db.query(`SELECT pgembed.retry_failed('docs')`);
    await worker.drain({ timeoutMs: 30_000 });
    expect(await checkInvariants(backend.db, 'docs')).toMatchObject({ documents: 5, stale: [] });
  });

  it('an input over the provider per-input limit fails only its document (INPUT_TOO_LONG), nothing truncated', async () => {
    await backend.db.query(`INSERT INTO docs VALUES (6, repeat('lengthy words ', 40))`);
    worker = await startWorker({
      db: backend.db,
      batchSize: 10,
      pollIntervalMs: 20,
      // The real openai provider, told it reads only 12 tokens per input.
      providerFor: (pipeline) =>
        Object.assign(createProvider(providerConfigOf(pipeline)), { maxInputTokens: 12 }),
    });
    await worker.drain({ timeoutMs: 30_000 });
    const failed = await jobs();
    expect(failed).toEqual([
      expect.objectContaining({ status: 'failed', last_error_code: 'INPUT_TOO_LONG' }),
    ]);
    expect(failed[0]!.last_error).toMatch(
      /has \d+ tokens but openai text-embedding-3-small reads at most 12; nothing was sent or truncated/,
    );
    const { rows } = await backend.db.query(`SELECT DISTINCT doc_id FROM docs_chunks ORDER BY doc_id`);
    expect(rows).toEqual([{ doc_id: 1 }, { doc_id: 2 }, { doc_id: 3 }, { doc_id: 4 }, { doc_id: 5 }]);
    // The long text never reached the provider.
    expect([...emulator.counts.keys()].some((text) => text.includes('lengthy'))).toBe(false);
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
