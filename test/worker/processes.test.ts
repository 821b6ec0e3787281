/**
 * Real worker processes (`pgembed worker`) against the native PostgreSQL cluster and an emulated
 * OpenAI server: several workers share the queue without embedding anything twice, and a worker
 * killed with SIGKILL mid-batch loses nothing.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { enableDocumentChunking } from '../../src/pipelines/enable.js';
import { hashEmbedding } from '../../src/providers/hash.js';
import { hasPostgres, openBackend, type TestBackend } from '../support/databases.js';
import { checkInvariants } from '../support/invariants.js';
import {
  EMULATOR_KEY,
  EMULATOR_MODEL,
  type OpenAIEmulator,
  startOpenAIEmulator,
} from '../support/openai-emulator.js';
import { exited, spawnWorker, waitFor } from '../support/processes.js';

const DIMS = 64;

describe.skipIf(!hasPostgres())('worker processes on postgres', () => {
  let backend: TestBackend;
  let emulator: OpenAIEmulator;
  const children: ReturnType<typeof spawnWorker>[] = [];

  beforeEach(async () => {
    backend = await openBackend('postgres', 'processes');
    emulator = await startOpenAIEmulator();
    await backend.db.exec(`CREATE TABLE notes (id int PRIMARY KEY, body text)`);
    await backend.db.query(
      `INSERT INTO notes SELECT i, 'note ' || i || ': ' || repeat('postgres keeps the queue transactional number ' || i || ' ', 30)
       FROM generate_series(1, 300) i`,
    );
    await enableDocumentChunking(backend.db, {
      table: 'notes',
      column: 'body',
      provider: 'openai',
      model: 'text-embedding-3-small',
      dimensions: DIMS,
      baseUrl: emulator.baseUrl,
      apiKeyEnv: 'PGEMBED_TEST_OPENAI_KEY',
      chunkSize: 64,
      chunkOverlap: 8,
    });
  });

  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited(child);
    }
    await emulator.close();
    await backend.cleanup();
  });

  const start = (extra: string[] = []) => {
    const child = spawnWorker(
      ['--database-url', backend.url!, '--batch-size', '10', '--lease-ms', '2000', ...extra],
      {
        PGEMBED_TEST_OPENAI_KEY: EMULATOR_KEY,
      },
    );
    children.push(child);
    return child;
  };

  const queueEmpty = async () => {
    const { rows } = await backend.db.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM pgembed.queue)::int + (SELECT count(*) FROM pgembed.queue_log)::int AS n`,
    );
    return rows[0]!.n === 0;
  };

  async function expectComplete() {
    const report = await checkInvariants(backend.db, 'notes');
    expect(report).toMatchObject({ documents: 300, stale: [], orphans: 0, processing: 0 });
    const { rows } = await backend.db.query<{ content: string; embedding: string }>(
      `SELECT content, embedding::text AS embedding FROM notes_chunks`,
    );
    for (const row of rows) {
      const want = hashEmbedding(row.content, DIMS, EMULATOR_MODEL);
      const got = JSON.parse(row.embedding) as number[];
      expect(got.every((v, i) => Math.abs(v - want[i]!) < 1e-6)).toBe(true);
    }
    return rows;
  }

  it('two workers share one pipeline and embed every chunk exactly once', async () => {
    // The first worker to start could drain all 30 batches before the second is up (on a loaded
    // machine a start takes seconds), so the documents stay locked until both have claimed a batch:
    // each then waits on the lock holding its claim.
    let a!: ReturnType<typeof start>;
    let b!: ReturnType<typeof start>;
    await backend.db.transaction(async (tx) => {
      await tx.query('LOCK TABLE notes IN ACCESS EXCLUSIVE MODE');
      a = start();
      b = start();
      await waitFor(
        async () => {
          const { rows } = await backend.db.query<{ n: number }>(
            `SELECT count(DISTINCT worker_id)::int AS n FROM pgembed.queue WHERE status = 'processing'`,
          );
          return rows[0]!.n === 2;
        },
        90_000,
        'both workers to claim a batch',
      );
    });
    await waitFor(queueEmpty, 60_000, 'the queue to drain');
    const rows = await expectComplete();
    const texts = new Set(rows.map((row) => row.content));
    for (const text of texts) expect(emulator.counts.get(text)).toBe(1);
    // Both workers took part (each logged at least one written batch).
    const wrote = (child: typeof a) => child.output.join('').includes('"event":"batch:written"');
    expect(wrote(a) && wrote(b)).toBe(true);
    // Start-up is logged too: the listeners are attached before the worker starts.
    for (const child of [a, b]) expect(child.output.join('')).toContain('"event":"worker:started"');

    a.kill('SIGTERM');
    b.kill('SIGTERM');
    expect(await exited(a)).toBe(0);
    expect(await exited(b)).toBe(0);
    const { rows: workers } = await backend.db.query(`SELECT id FROM pgembed.workers`);
    expect(workers).toEqual([]);
  }, 240_000);

  it('a worker killed with SIGKILL mid-batch loses nothing: its jobs return after the lease', async () => {
    emulator.delayMs = 400;
    const victim = start();
    // A worker process's start-up alone can take tens of seconds on a loaded machine.
    await waitFor(() => emulator.requests >= 2, 120_000, 'the first worker to be mid-batch');
    victim.kill('SIGKILL');
    await exited(victim);
    const { rows: stuck } = await backend.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pgembed.queue WHERE status = 'processing'`,
    );
    expect(stuck[0]!.n).toBeGreaterThan(0);

    emulator.delayMs = 0;
    start();
    await waitFor(queueEmpty, 120_000, 'the queue to drain after the crash');
    await expectComplete();
  }, 300_000);
});
