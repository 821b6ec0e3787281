/**
 * pgembed.drop_pipeline() while a worker holds a batch of that pipeline: the worker says what
 * happened (no raw SQL error, nothing recorded as a failure) and carries on with the other
 * pipelines. Real workers against a local OpenAI-compatible server that answers slowly.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/types.js';
import { enableDocumentChunking } from '../../src/pipelines/enable.js';
import type { WorkerEventMap } from '../../src/worker/events.js';
import { startWorker, type Worker } from '../../src/worker/worker.js';
import { BACKENDS, hasPostgres, openBackend, type TestBackend } from '../support/databases.js';
import { checkInvariants } from '../support/invariants.js';
import { EMULATOR_KEY, type OpenAIEmulator, startOpenAIEmulator } from '../support/openai-emulator.js';
import { exited, spawnWorker, waitFor } from '../support/processes.js';

const DROPPED = 'pipeline docs was dropped while its batch was in flight; its 5 jobs were discarded';

/** Two pipelines: `docs` embedded by the (slow) emulator, `notes` by the hash provider. */
async function setUp(db: Database, emulator: OpenAIEmulator): Promise<void> {
  await db.exec(
    `CREATE TABLE docs (id int PRIMARY KEY, body text); CREATE TABLE notes (id int PRIMARY KEY, body text)`,
  );
  await db.query(`INSERT INTO docs SELECT i, 'document number ' || i FROM generate_series(1, 5) i`);
  await enableDocumentChunking(db, {
    table: 'docs',
    column: 'body',
    provider: 'openai',
    model: 'text-embedding-3-small',
    dimensions: 16,
    baseUrl: emulator.baseUrl,
    apiKeyEnv: 'PGEMBED_TEST_OPENAI_KEY',
  });
  await enableDocumentChunking(db, { table: 'notes', column: 'body', provider: 'hash', dimensions: 16 });
}

/** Every event of these kinds a worker emits, in order. */
function record(worker: Worker) {
  const seen: { event: string; payload: unknown }[] = [];
  for (const event of ['pipeline:dropped', 'job:retry', 'job:failed', 'error', 'batch:written'] as const) {
    worker.events.on(event, (payload: WorkerEventMap[typeof event]) => seen.push({ event, payload }));
  }
  return seen;
}

describe.each(BACKENDS)('dropping a pipeline while a worker holds its batch, on %s', (kind) => {
  let backend: TestBackend;
  let emulator: OpenAIEmulator;
  let worker: Worker | undefined;

  beforeEach(async (context) => {
    if (kind === 'postgres' && !hasPostgres()) context.skip();
    process.env.PGEMBED_TEST_OPENAI_KEY = EMULATOR_KEY;
    backend = await openBackend(kind, 'dropped_pipeline');
    emulator = await startOpenAIEmulator();
    await setUp(backend.db, emulator);
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    await emulator?.close();
    await backend?.cleanup();
  });

  const errorRows = async () =>
    (await backend.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pgembed.errors`)).rows[0]!.n;

  it('during a slow provider call: says so, records nothing, and serves the other pipeline', async () => {
    emulator.delayMs = 1_500;
    worker = await startWorker({ db: backend.db, pollIntervalMs: 50 });
    const seen = record(worker);
    await waitFor(() => emulator.requests > 0, 30_000, 'the batch of docs to reach the provider');
    await backend.db.query(`SELECT pgembed.drop_pipeline('docs', true)`);

    await waitFor(() => seen.some((e) => e.event === 'pipeline:dropped'), 30_000, 'pipeline:dropped');
    await backend.db.query(`INSERT INTO notes SELECT i, 'note ' || i FROM generate_series(1, 3) i`);
    await worker.drain({ timeoutMs: 30_000 });
    expect(await checkInvariants(backend.db, 'notes')).toMatchObject({ documents: 3, stale: [], orphans: 0 });

    const aboutDocs = seen.filter((e) => (e.payload as { pipeline?: string }).pipeline !== 'notes');
    expect(aboutDocs).toEqual([
      { event: 'pipeline:dropped', payload: { pipeline: 'docs', jobs: 5, message: DROPPED } },
    ]);
    expect(worker.stats).toMatchObject({ failedJobs: 0, retriedJobs: 0, documents: 3 });
    expect(await errorRows()).toBe(0);
  });

  it('between claiming the batch and reading it (the chunk table already gone)', async () => {
    // A database seam that runs the drop right after the worker's claim returns its jobs: the
    // worker's next read of the batch finds no chunk table.
    let dropped = false;
    let listening: () => void = () => {};
    const ready = new Promise<void>((resolve) => {
      listening = resolve;
    });
    const db: Database = {
      ...backend.db,
      async query(text, params) {
        const claim = text.includes(`SET status = 'processing'`);
        // No claim before the test listens to the worker's events.
        if (claim) await ready;
        const result = await backend.db.query(text, params);
        if (!dropped && claim && result.rowCount > 0) {
          dropped = true;
          await backend.db.query(`SELECT pgembed.drop_pipeline('docs', true)`);
        }
        return result as never;
      },
    };
    worker = await startWorker({ db, pollIntervalMs: 50, pipelines: ['docs'] });
    const seen = record(worker);
    listening();
    await waitFor(() => seen.some((e) => e.event === 'pipeline:dropped'), 30_000, 'pipeline:dropped');
    // A poll or two later, still nothing else to say.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(dropped).toBe(true);
    expect(seen).toEqual([
      { event: 'pipeline:dropped', payload: { pipeline: 'docs', jobs: 5, message: DROPPED } },
    ]);
    expect(worker.stats).toMatchObject({ batches: 0, failedJobs: 0, retriedJobs: 0 });
    expect(await errorRows()).toBe(0);
    expect(emulator.requests).toBe(0);
  });
});

describe.skipIf(!hasPostgres())('`pgembed worker` when a pipeline is dropped mid-batch', () => {
  it('logs one warn line saying so, no SQL error, and keeps embedding the other pipeline', async () => {
    process.env.PGEMBED_TEST_OPENAI_KEY = EMULATOR_KEY;
    const backend = await openBackend('postgres', 'dropped_pipeline_cli');
    const emulator = await startOpenAIEmulator({ delayMs: 2_000 });
    await setUp(backend.db, emulator);
    const child = spawnWorker(['--poll-ms', '100'], { DATABASE_URL: backend.url! });
    try {
      await waitFor(() => emulator.requests > 0, 60_000, 'the batch of docs to reach the provider');
      await backend.db.query(`SELECT pgembed.drop_pipeline('docs', true)`);
      await waitFor(
        () => child.output.join('').includes('"event":"pipeline:dropped"'),
        30_000,
        'the log line',
      );
      await backend.db.query(`INSERT INTO notes SELECT i, 'note ' || i FROM generate_series(1, 3) i`);
      await waitFor(
        async () => (await checkInvariants(backend.db, 'notes')).stale.length === 0,
        30_000,
        'notes to be embedded after the drop',
      );
      expect(await checkInvariants(backend.db, 'notes')).toMatchObject({
        documents: 3,
        stale: [],
        orphans: 0,
      });

      const lines = child.output
        .join('')
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map(
          (line) => JSON.parse(line) as { level: string; event: string; pipeline?: string; message?: string },
        );
      expect(lines.filter((line) => line.event === 'pipeline:dropped')).toEqual([
        expect.objectContaining({ level: 'warn', pipeline: 'docs', jobs: 5, message: DROPPED }),
      ]);
      expect(lines.filter((line) => line.level === 'error')).toEqual([]);
      expect(child.output.join('')).not.toMatch(/does not exist/);
      expect(lines.filter((line) => line.event === 'batch:written' && line.pipeline === 'docs')).toEqual([]);
    } finally {
      child.kill('SIGTERM');
      await exited(child);
      await emulator.close();
      await backend.cleanup();
    }
  });
});
