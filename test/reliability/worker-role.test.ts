/**
 * The least-privilege worker role: a login that is a member of pgembed_worker can run a worker to
 * completion (including the deferred index build) and can do nothing else to the user's tables.
 * Workers (`pgembed worker` and startWorker()) never install or upgrade the schema: they refuse one
 * that is missing, older or newer than the code, and change nothing.
 */
import { describe, expect, inject, it } from 'vitest';
import { loadMigrations } from '../../src/db/migrate.js';
import { createPostgresDatabase } from '../../src/db/postgres.js';
import type { Database } from '../../src/db/types.js';
import { enableDocumentChunking } from '../../src/pipelines/enable.js';
import { startWorker } from '../../src/worker/worker.js';
import { runCli } from '../support/cli.js';
import { hasPostgres, openBackend } from '../support/databases.js';
import { checkInvariants } from '../support/invariants.js';
import { createTestDatabase } from '../support/postgres.js';

/** The same server and database as `url`, logged in as `role`. */
const asRole = (url: string, role: string) => url.replace('postgresql://postgres@', `postgresql://${role}@`);
const newest = () => Math.max(...loadMigrations().map((m) => m.id));

/** Creates a login in pgembed_worker (granting the role first), as the documented set-up does. */
async function createWorkerLogin(db: Database): Promise<string> {
  const login = `w_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`;
  await db.query(`SELECT pgembed.grant_worker_role()`);
  await db.exec(`CREATE ROLE ${login} LOGIN IN ROLE pgembed_worker`);
  return login;
}

async function dropLogin(db: Database, login: string): Promise<void> {
  await db.exec(`DROP OWNED BY ${login}; DROP ROLE IF EXISTS ${login}`).catch(() => {});
}

/** A worker's stderr on error: exactly one line of reason and one of hint. */
const ONE_LINE_AND_HINT = /^error: [^\n]+\nhint: [^\n]+\n$/;

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

  it('`pgembed worker` runs and embeds as a login in pgembed_worker (no CREATE on the database)', async () => {
    const backend = await openBackend('postgres', 'worker_role_cli');
    const { db } = backend;
    let login: string | undefined;
    try {
      await db.exec(`CREATE TABLE notes (id int PRIMARY KEY, body text)`);
      await db.query(`INSERT INTO notes SELECT i, 'note number ' || i FROM generate_series(1, 20) i`);
      await enableDocumentChunking(db, { table: 'notes', column: 'body', provider: 'hash', dimensions: 8 });
      login = await createWorkerLogin(db);
      const { rows: privileges } = await db.query<{ create: boolean }>(
        `SELECT has_database_privilege($1, current_database(), 'CREATE') AS create`,
        [login],
      );
      expect(privileges[0]!.create).toBe(false);

      const run = await runCli(['worker', '--exit-when-drained', '--json'], {
        DATABASE_URL: asRole(backend.url!, login),
      });
      expect(run.stderr).not.toMatch(/permission denied/);
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ documents: 20 });
      expect(await checkInvariants(db, 'notes')).toMatchObject({ documents: 20, stale: [], orphans: 0 });
    } finally {
      if (login) await dropLogin(db, login);
      await backend.cleanup();
    }
  });

  it('a worker against a database without `pgembed init` exits 1 with the reason and creates nothing', async () => {
    const target = await createTestDatabase(inject('pgAdminUrl')!, 'worker_uninstalled');
    const db = createPostgresDatabase({ connectionString: target.url });
    try {
      // As the owner, who could create the schema: a worker still must not.
      const run = await runCli(['worker', '--exit-when-drained'], { DATABASE_URL: target.url });
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(ONE_LINE_AND_HINT);
      expect(run.stderr).toMatch(/^error: pgembed is not installed in this database: run `pgembed init`/);
      expect(run.stderr).toContain('hint: the database owner runs `pgembed init`');
      await expect(startWorker({ db })).rejects.toMatchObject({ code: 'SCHEMA_NOT_INSTALLED' });
      const { rows } = await db.query<{ schema: string | null }>(
        `SELECT to_regnamespace('pgembed')::text AS schema`,
      );
      expect(rows[0]!.schema).toBeNull();
    } finally {
      await db.close();
      await target.drop();
    }
  });

  it('a worker refuses a schema newer or older than its code, as the worker role and as the owner', async () => {
    const backend = await openBackend('postgres', 'worker_schema_version');
    const { db } = backend;
    let login: string | undefined;
    try {
      login = await createWorkerLogin(db);
      const future = newest() + 1;
      await db.query(`INSERT INTO pgembed.migrations (id, name) VALUES ($1, 'from_a_newer_pgembed')`, [
        future,
      ]);

      const run = await runCli(['worker', '--exit-when-drained'], {
        DATABASE_URL: asRole(backend.url!, login),
      });
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(ONE_LINE_AND_HINT);
      expect(run.stderr).toContain(
        `has migration ${future}, newer than this pgembed (migrations up to ${newest()})`,
      );
      await expect(startWorker({ db })).rejects.toMatchObject({ code: 'SCHEMA_TOO_NEW' });
      // The owner's `pgembed init` refuses it too, and leaves the record as it was.
      const init = await runCli(['init'], { DATABASE_URL: backend.url! });
      expect(init.code).toBe(1);
      expect(init.stderr).toMatch(ONE_LINE_AND_HINT);
      const { rows } = await db.query<{ id: number }>(`SELECT max(id)::int AS id FROM pgembed.migrations`);
      expect(rows[0]!.id).toBe(future);

      // A schema an older pgembed installed (its newest migration not applied yet).
      await db.query(`DELETE FROM pgembed.migrations WHERE id >= $1`, [newest()]);
      const old = await runCli(['worker', '--exit-when-drained'], {
        DATABASE_URL: asRole(backend.url!, login),
      });
      expect(old.code).toBe(1);
      expect(old.stderr).toMatch(ONE_LINE_AND_HINT);
      expect(old.stderr).toContain(`lacks migration ${newest()} of this pgembed: run \`pgembed init\``);
      await expect(startWorker({ db })).rejects.toMatchObject({ code: 'SCHEMA_OUTDATED' });
      const { rows: workers } = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pgembed.workers`,
      );
      expect(workers[0]!.n).toBe(0);
    } finally {
      if (login) await dropLogin(db, login);
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
