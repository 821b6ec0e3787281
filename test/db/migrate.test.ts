import { describe, expect, inject, it } from 'vitest';
import { installedVersion, loadMigrations, migrate } from '../../src/db/migrate.js';
import { createPgliteDatabase } from '../../src/db/pglite.js';
import { createPostgresDatabase } from '../../src/db/postgres.js';
import { hasPostgres, openBackend } from '../support/databases.js';
import { createTestDatabase } from '../support/postgres.js';

describe('migrations', () => {
  it('install once on PGlite and are idempotent', async () => {
    const db = await createPgliteDatabase();
    try {
      const all = loadMigrations().map((m) => m.id);
      expect(await installedVersion(db)).toBe(0);
      expect(await migrate(db)).toEqual(all);
      expect(await migrate(db)).toEqual([]);
      expect(await installedVersion(db)).toBe(Math.max(...all));
    } finally {
      await db.close();
    }
  });

  it.skipIf(!hasPostgres())(
    'two installers racing on PostgreSQL both succeed, each migration applied once',
    async () => {
      const target = await createTestDatabase(inject('pgAdminUrl')!, 'migrate_race');
      const a = createPostgresDatabase({ connectionString: target.url });
      const b = createPostgresDatabase({ connectionString: target.url });
      try {
        const [fromA, fromB] = await Promise.all([migrate(a), migrate(b)]);
        expect([...fromA, ...fromB].sort((a, b) => a - b)).toEqual(loadMigrations().map((m) => m.id));
        const { rows } = await a.query<{ n: number }>(`SELECT count(*)::int AS n FROM pgembed.migrations`);
        expect(rows[0]!.n).toBe(loadMigrations().length);
      } finally {
        await a.close();
        await b.close();
        await target.drop();
      }
    },
  );

  it.skipIf(!hasPostgres())('reinstalls everything after the schema was dropped', async () => {
    const backend = await openBackend('postgres', 'migrate_again');
    try {
      await backend.db.exec(`DROP SCHEMA pgembed CASCADE`);
      expect(await installedVersion(backend.db)).toBe(0);
      expect((await migrate(backend.db)).length).toBe(loadMigrations().length);
    } finally {
      await backend.cleanup();
    }
  });
});
