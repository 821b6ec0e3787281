import { readdirSync, readFileSync } from 'node:fs';
import type { Database } from './types.js';

const MIGRATIONS_DIR = new URL('../sql/migrations/', import.meta.url);

export interface Migration {
  id: number;
  name: string;
  sql: string;
}

/** The numbered migrations shipped with this version, in order. */
export function loadMigrations(): Migration[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((file) => /^\d{4}_.+\.sql$/.test(file))
    .sort()
    .map((file) => ({
      id: Number(file.slice(0, 4)),
      name: file.slice(5, -4),
      sql: readFileSync(new URL(file, MIGRATIONS_DIR), 'utf8'),
    }));
}

/**
 * Installs or upgrades the `pgembed` schema. Every migration runs in its own transaction holding a
 * transaction-scoped advisory lock, and records its id in `pgembed.migrations` in that same
 * transaction, so installers racing each other (two workers starting at once) both succeed and each
 * migration is applied exactly once. Returns the ids applied by this call.
 */
export async function migrate(db: Database): Promise<number[]> {
  const applied: number[] = [];
  for (const migration of loadMigrations()) {
    const didApply = await db.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended('pgembed.migrate', 0))`);
      await tx.query('CREATE SCHEMA IF NOT EXISTS pgembed');
      await tx.query(
        `CREATE TABLE IF NOT EXISTS pgembed.migrations (
           id int PRIMARY KEY,
           name text NOT NULL,
           applied_at timestamptz NOT NULL DEFAULT now()
         )`,
      );
      const done = await tx.query('SELECT 1 FROM pgembed.migrations WHERE id = $1', [migration.id]);
      if (done.rowCount > 0) return false;
      await tx.query('INSERT INTO pgembed.migrations (id, name) VALUES ($1, $2)', [
        migration.id,
        migration.name,
      ]);
      await tx.exec(migration.sql);
      return true;
    });
    if (didApply) applied.push(migration.id);
  }
  if (applied.length > 0) {
    // Tables added by an upgrade must reach the least-privilege worker role, when there is one.
    await db.query(
      `SELECT pgembed.grant_worker_role() FROM pg_roles WHERE rolname = 'pgembed_worker'
         AND to_regprocedure('pgembed.grant_worker_role(name)') IS NOT NULL`,
    );
  }
  return applied;
}

/** Highest migration id applied, or 0 when pgembed is not installed. */
export async function installedVersion(db: Database): Promise<number> {
  const { rows: table } = await db.query<{ found: boolean }>(
    `SELECT to_regclass('pgembed.migrations') IS NOT NULL AS found`,
  );
  if (!table[0]?.found) return 0;
  const { rows } = await db.query<{ version: number }>(
    `SELECT coalesce(max(id), 0)::int AS version FROM pgembed.migrations`,
  );
  return rows[0]?.version ?? 0;
}
