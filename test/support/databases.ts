import { inject } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { createPgliteDatabase } from '../../src/db/pglite.js';
import { createPostgresDatabase } from '../../src/db/postgres.js';
import type { Database } from '../../src/db/types.js';
import { createTestDatabase } from './postgres.js';

export type Backend = 'pglite' | 'postgres';

export interface TestBackend {
  kind: Backend;
  db: Database;
  /** Connection string (postgres only): for worker processes and extra connections. */
  url: string | undefined;
  cleanup(): Promise<void>;
}

/** Both databases every integration test runs against; PGlite always, PostgreSQL when the run has it. */
export const BACKENDS: Backend[] = ['pglite', 'postgres'];

export function hasPostgres(): boolean {
  return inject('pgAdminUrl') !== null;
}

/** A fresh, migrated database of the given kind: in-memory PGlite, or a new database on the run's cluster. */
export async function openBackend(
  kind: Backend,
  name: string,
  options: { poolSize?: number } = {},
): Promise<TestBackend> {
  if (kind === 'pglite') {
    const db = await createPgliteDatabase();
    await migrate(db);
    return { kind, db, url: undefined, cleanup: () => db.close() };
  }
  const adminUrl = inject('pgAdminUrl');
  if (!adminUrl) throw new Error('no PostgreSQL server for this run');
  const testDb = await createTestDatabase(adminUrl, name);
  const db = createPostgresDatabase({ connectionString: testDb.url, max: options.poolSize ?? 10 });
  await migrate(db);
  return {
    kind,
    db,
    url: testDb.url,
    async cleanup() {
      await db.close();
      await testDb.drop();
    },
  };
}
