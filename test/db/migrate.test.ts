import { describe, expect, inject, it } from 'vitest';
import { checkSchema, installedVersion, loadMigrations, migrate } from '../../src/db/migrate.js';
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

  it('refuses a schema newer than the code, changing nothing; checkSchema tells missing, older and newer apart', async () => {
    const db = await createPgliteDatabase();
    try {
      const newest = Math.max(...loadMigrations().map((m) => m.id));
      await expect(checkSchema(db)).rejects.toMatchObject({ code: 'SCHEMA_NOT_INSTALLED' });
      await migrate(db);
      await expect(checkSchema(db)).resolves.toBeUndefined();

      await db.query(`INSERT INTO pgembed.migrations (id, name) VALUES ($1, 'from_a_newer_pgembed')`, [
        newest + 1,
      ]);
      await expect(migrate(db)).rejects.toMatchObject({
        code: 'SCHEMA_TOO_NEW',
        message: expect.stringContaining(`has migration ${newest + 1}, newer than this pgembed`),
      });
      await expect(checkSchema(db)).rejects.toMatchObject({ code: 'SCHEMA_TOO_NEW' });
      expect(await installedVersion(db)).toBe(newest + 1);

      await db.query(`DELETE FROM pgembed.migrations WHERE id >= $1`, [newest]);
      await expect(checkSchema(db)).rejects.toMatchObject({
        code: 'SCHEMA_OUTDATED',
        message: expect.stringContaining(`lacks migration ${newest} of this pgembed`),
      });
    } finally {
      await db.close();
    }
  });

  it.skipIf(!hasPostgres())(
    'leaves a current schema alone without DDL, so a role without CREATE may call it',
    async () => {
      const backend = await openBackend('postgres', 'migrate_current');
      const login = `m_${Date.now().toString(36)}`;
      const asLogin = createPostgresDatabase({
        connectionString: backend.url!.replace('postgresql://postgres@', `postgresql://${login}@`),
      });
      try {
        await backend.db.exec(`CREATE ROLE ${login} LOGIN; GRANT SELECT ON pgembed.migrations TO ${login}`);
        expect(await migrate(asLogin)).toEqual([]);
        await expect(checkSchema(asLogin)).resolves.toBeUndefined();
        // Where there is something to install, the same role gets PostgreSQL's own error.
        await backend.db.exec(`DELETE FROM pgembed.migrations WHERE id = 1`);
        await expect(migrate(asLogin)).rejects.toMatchObject({ code: '42501' });
      } finally {
        await asLogin.close();
        await backend.db.exec(`DROP OWNED BY ${login}; DROP ROLE ${login}`).catch(() => {});
        await backend.cleanup();
      }
    },
  );

  it.skipIf(!hasPostgres())(
    'two installers racing on PostgreSQL both succeed, each migration applied once',
    async () => {
      // With the worker role in the cluster, both installers also grant it the new tables.
      const admin = createPostgresDatabase({ connectionString: inject('pgAdminUrl')! });
      await admin.exec(`DO $$ BEGIN CREATE ROLE pgembed_worker NOLOGIN;
                        EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
      await admin.close();
      for (let round = 0; round < 3; round++) {
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
      }
    },
    180_000,
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
