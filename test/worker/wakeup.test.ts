/**
 * Wake-ups: a worker waiting idle is woken by the NOTIFY of the first writer, quickly, and keeps
 * being woken after its LISTEN connection is killed (pg_terminate_backend) — never by its poll,
 * which these tests set to a minute.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPostgresDatabase } from '../../src/db/postgres.js';
import { enableDocumentChunking } from '../../src/pipelines/enable.js';
import { startWorker, type Worker } from '../../src/worker/worker.js';
import { BACKENDS, hasPostgres, openBackend, type TestBackend } from '../support/databases.js';
import { waitFor } from '../support/processes.js';

const chunkCount = async (backend: TestBackend) =>
  (await backend.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM docs_chunks`)).rows[0]!.n;

describe.each(BACKENDS)('wake-ups on %s', (kind) => {
  let backend: TestBackend;
  let worker: Worker | undefined;

  beforeEach(async (context) => {
    if (kind === 'postgres' && !hasPostgres()) context.skip();
    backend = await openBackend(kind, 'wakeup');
    await backend.db.exec(`CREATE TABLE docs (id int PRIMARY KEY, body text)`);
    await enableDocumentChunking(backend.db, {
      table: 'docs',
      column: 'body',
      provider: 'hash',
      dimensions: 8,
    });
    worker = await startWorker({ db: backend.db, pollIntervalMs: 60_000 });
    await new Promise<void>((resolve) => worker!.events.on('worker:idle', () => resolve()));
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    await backend?.cleanup();
  });

  it('an idle worker is woken by the first insert at once (its poll is a minute), and re-arms when idle again', async () => {
    const { rows: armed } = await backend.db.query<{ armed: boolean }>(`SELECT armed FROM pgembed.wakeups`);
    expect(armed).toEqual([{ armed: true }]);
    // The poll is a minute away: a chunk within half of it can only come from the wake-up, however
    // loaded the machine is.
    await backend.db.query(`INSERT INTO docs VALUES (1, 'wake up')`);
    await waitFor(async () => (await chunkCount(backend)) === 1, 30_000, 'the chunk');
    for (let i = 2; i <= 20; i++) await backend.db.query(`INSERT INTO docs VALUES ($1, 'more')`, [i]);
    await waitFor(async () => (await chunkCount(backend)) === 20, 20_000, 'all chunks');
    await waitFor(
      async () => (await backend.db.query(`SELECT 1 FROM pgembed.wakeups WHERE armed`)).rowCount === 1,
      5_000,
      'the worker to re-arm',
    );
  });
});

describe.skipIf(!hasPostgres())('LISTEN connection loss on postgres', () => {
  let backend: TestBackend;
  let worker: Worker | undefined;

  beforeEach(async () => {
    backend = await openBackend('postgres', 'listen_loss');
    await backend.db.exec(`CREATE TABLE docs (id int PRIMARY KEY, body text)`);
    await enableDocumentChunking(backend.db, {
      table: 'docs',
      column: 'body',
      provider: 'hash',
      dimensions: 8,
    });
    worker = await startWorker({ db: backend.db, pollIntervalMs: 60_000 });
    await new Promise<void>((resolve) => worker!.events.on('worker:idle', () => resolve()));
  });
  afterEach(async () => {
    await worker?.stop();
    await backend?.cleanup();
  });

  it('keeps waking after its LISTEN connection is terminated', async () => {
    const admin = createPostgresDatabase({ connectionString: backend.url! });
    try {
      const { rows } = await admin.query<{ killed: boolean }>(
        `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
         WHERE application_name = 'pgembed:listen' AND datname = current_database()`,
      );
      expect(rows).toEqual([{ killed: true }]);
      // The reconnect forces a look at the queue, and the new LISTEN receives later NOTIFYs. Its
      // connection shows before it listens: wait for the LISTEN itself, then any moment is a fair one.
      await waitFor(
        async () =>
          (
            await admin.query(
              `SELECT 1 FROM pg_stat_activity WHERE application_name = 'pgembed:listen'
                 AND datname = current_database() AND query LIKE 'LISTEN %' AND state = 'idle'`,
            )
          ).rowCount === 1,
        20_000,
        'the listener to reconnect',
      );
      await backend.db.query(`INSERT INTO docs VALUES (1, 'after the reconnect')`);
      // Well under the minute's poll, so only a wake-up delivers it.
      await waitFor(async () => (await chunkCount(backend)) === 1, 30_000, 'the chunk after reconnecting');
    } finally {
      await admin.close();
    }
  });
});
