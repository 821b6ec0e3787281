/**
 * The least-privilege worker role: a login that is a member of pgembed_worker can run a worker to
 * completion (including the deferred index build) and can do nothing else to the user's tables.
 */
import { describe, expect, it } from 'vitest';
import { createPostgresDatabase } from '../../src/db/postgres.js';
import { enableDocumentChunking } from '../../src/pipelines/enable.js';
import { startWorker } from '../../src/worker/worker.js';
import { hasPostgres, openBackend } from '../support/databases.js';
import { checkInvariants } from '../support/invariants.js';

describe.skipIf(!hasPostgres())('pgembed_worker role on postgres', () => {
  it('runs a worker with only the grants it needs', async () => {
    const backend = await openBackend('postgres', 'worker_role');
    const { db } = backend;
    const login = `w_${Date.now().toString(36)}`;
    try {
      await db.exec(`CREATE SCHEMA app; CREATE TABLE app.docs (id int PRIMARY KEY, body text, secret text)`);
      await db.query(`INSERT INTO app.docs SELECT i, 'document ' || i, 'x' FROM generate_series(1, 30) i`);
      await enableDocumentChunking(db, {
        table: 'app.docs',
        column: 'body',
        provider: 'hash',
        dimensions: 8,
        deferIndexRows: 10,
      });
      await db.query(`SELECT pgembed.grant_worker_role()`);
      await db.exec(`CREATE ROLE ${login} LOGIN IN ROLE pgembed_worker`);
      // A pipeline enabled after the grant is granted too.
      await db.exec(`CREATE TABLE app.more (id int PRIMARY KEY, body text)`);
      await db.query(`INSERT INTO app.more VALUES (1, 'later')`);
      await enableDocumentChunking(db, {
        table: 'app.more',
        column: 'body',
        provider: 'hash',
        dimensions: 8,
      });

      const asWorker = createPostgresDatabase({
        connectionString: backend.url!.replace('postgresql://postgres@', `postgresql://${login}@`),
      });
      try {
        const worker = await startWorker({ db: asWorker, pollIntervalMs: 50 });
        await worker.drain({ timeoutMs: 30_000 });
        await worker.stop();
        await expect(asWorker.query(`INSERT INTO app.docs VALUES (99, 'nope', 'nope')`)).rejects.toThrow(
          /permission denied/,
        );
        await expect(asWorker.query(`DROP TABLE app.docs`)).rejects.toThrow(/must be owner/);
        await expect(asWorker.query(`UPDATE pgembed.pipelines SET provider = 'openai'`)).rejects.toThrow(
          /permission denied/,
        );
      } finally {
        await asWorker.close();
      }
      const docsReport = await checkInvariants(db, 'docs');
      expect(docsReport, JSON.stringify(docsReport)).toMatchObject({ documents: 30, stale: [], orphans: 0 });
      expect(await checkInvariants(db, 'more')).toMatchObject({ documents: 1, stale: [], orphans: 0 });
      const { rows } = await db.query(`SELECT name, index_state FROM pgembed.pipelines ORDER BY name`);
      expect(rows).toEqual([
        { name: 'docs', index_state: 'live' },
        { name: 'more', index_state: 'live' },
      ]);
    } finally {
      await db.exec(`DROP OWNED BY ${login}; DROP ROLE IF EXISTS ${login}`).catch(() => {});
      await backend.cleanup();
    }
  });

  it('keeps pgembed.errors bounded by age and by count', async () => {
    const backend = await openBackend('postgres', 'errors_retention');
    const { db } = backend;
    try {
      await db.exec(`UPDATE pgembed.settings SET value = '3' WHERE name = 'errors_max_rows'`);
      await db.exec(
        `INSERT INTO pgembed.errors (pipeline, message, created_at)
         SELECT 'p', 'old ' || i, now() - interval '30 days' FROM generate_series(1, 5) i;
         INSERT INTO pgembed.errors (pipeline, message) SELECT 'p', 'new ' || i FROM generate_series(1, 5) i`,
      );
      const { rows } = await db.query<{ n: string }>(`SELECT pgembed.prune_errors()::text AS n`);
      expect(rows[0]!.n).toBe('7');
      const { rows: kept } = await db.query(`SELECT message FROM pgembed.errors ORDER BY id`);
      expect(kept).toEqual([{ message: 'new 3' }, { message: 'new 4' }, { message: 'new 5' }]);
    } finally {
      await backend.cleanup();
    }
  });
});
