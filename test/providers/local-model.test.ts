/**
 * Which weights embed a local pipeline, end to end on both databases: a pipeline declared with nothing
 * but table and column uses the int8 model and records it in every chunk; a pipeline declared before
 * the int8 default (on a schema upgraded from 0011) keeps fp32 and its chunks' model string says so.
 * The vectors the worker stores are checked against each model run directly.
 */
import { afterEach, describe, expect, inject, it } from 'vitest';
import { loadMigrations, migrate } from '../../src/db/migrate.js';
import { createPgliteDatabase } from '../../src/db/pglite.js';
import { createPostgresDatabase } from '../../src/db/postgres.js';
import type { Database } from '../../src/db/types.js';
import { enableDocumentChunking } from '../../src/pipelines/enable.js';
import { createProvider } from '../../src/providers/index.js';
import { startWorker, type Worker } from '../../src/worker/worker.js';
import { BACKENDS, hasPostgres } from '../support/databases.js';
import { createTestDatabase } from '../support/postgres.js';

const TEXT = 'VACUUM reclaims storage occupied by dead tuples.';
const cosine = (a: number[], b: number[]) => a.reduce((sum, x, i) => sum + x * b[i]!, 0);

/** Applies the migrations up to `last` exactly as migrate() does (id recorded in the same transaction). */
async function migrateUpTo(db: Database, last: number): Promise<void> {
  for (const migration of loadMigrations().filter((m) => m.id <= last)) {
    await db.transaction(async (tx) => {
      await tx.query('CREATE SCHEMA IF NOT EXISTS pgembed');
      await tx.query(
        `CREATE TABLE IF NOT EXISTS pgembed.migrations (id int PRIMARY KEY, name text NOT NULL,
           applied_at timestamptz NOT NULL DEFAULT now())`,
      );
      await tx.query('INSERT INTO pgembed.migrations (id, name) VALUES ($1, $2)', [
        migration.id,
        migration.name,
      ]);
      await tx.exec(migration.sql);
    });
  }
}

async function open(
  kind: (typeof BACKENDS)[number],
): Promise<{ db: Database; cleanup: () => Promise<void> }> {
  if (kind === 'pglite') {
    const db = await createPgliteDatabase();
    return { db, cleanup: () => db.close() };
  }
  const target = await createTestDatabase(inject('pgAdminUrl')!, 'local_model');
  const db = createPostgresDatabase({ connectionString: target.url });
  return {
    db,
    async cleanup() {
      await db.close();
      await target.drop();
    },
  };
}

describe.each(BACKENDS)('local model of a pipeline (%s)', { timeout: 120_000 }, (kind) => {
  let worker: Worker | undefined;
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    await cleanup?.();
    cleanup = undefined;
  });

  it.skipIf(kind === 'postgres' && !hasPostgres())(
    'new pipelines embed with int8 and record it; a pipeline from before the upgrade keeps fp32',
    async () => {
      const opened = await open(kind);
      cleanup = opened.cleanup;
      const { db } = opened;
      await migrateUpTo(db, 11);
      await db.exec(`CREATE TABLE before_upgrade (id int PRIMARY KEY, body text NOT NULL)`);
      const old = await enableDocumentChunking(db, { table: 'before_upgrade', column: 'body' });
      expect(old.model).toBe('all-MiniLM-L6-v2');

      await migrate(db);
      await db.exec(`CREATE TABLE after_upgrade (id int PRIMARY KEY, body text NOT NULL)`);
      const fresh = await enableDocumentChunking(db, { table: 'after_upgrade', column: 'body' });
      expect(fresh).toMatchObject({ provider: 'local', model: 'all-MiniLM-L6-v2-int8', dimensions: 384 });

      await db.query(`INSERT INTO before_upgrade VALUES (1, $1)`, [TEXT]);
      await db.query(`INSERT INTO after_upgrade VALUES (1, $1)`, [TEXT]);
      worker = await startWorker({ db, pollIntervalMs: 20 });
      await worker.drain({ timeoutMs: 60_000 });

      const stored = async (table: string) => {
        const { rows } = await db.query<{ model: string; embedding: string }>(
          `SELECT model, embedding::text AS embedding FROM ${table}`,
        );
        expect(rows).toHaveLength(1);
        return { model: rows[0]!.model, vector: JSON.parse(rows[0]!.embedding) as number[] };
      };
      const fp32 = await stored('before_upgrade_chunks');
      const int8 = await stored('after_upgrade_chunks');
      expect(fp32.model).toBe('all-MiniLM-L6-v2');
      expect(int8.model).toBe('all-MiniLM-L6-v2-int8');

      const embed = async (model: string) => {
        const provider = createProvider({ provider: 'local', model });
        try {
          return (await provider.embed([TEXT], { inputType: 'document' }))[0]!;
        } finally {
          await provider.close?.();
        }
      };
      const [exact, quantised] = [await embed('all-MiniLM-L6-v2'), await embed('all-MiniLM-L6-v2-int8')];
      // Each chunk holds its own model's vector (the vector column is float4: 1e-6 apart at most)…
      expect(cosine(fp32.vector, exact)).toBeGreaterThan(0.99999);
      expect(cosine(int8.vector, quantised)).toBeGreaterThan(0.99999);
      // …and the two models' vectors are measurably different, so mixing them would be a real change.
      expect(Math.max(...exact.map((x, i) => Math.abs(x - quantised[i]!)))).toBeGreaterThan(1e-3);
    },
  );
});
