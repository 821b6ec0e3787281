import { readdirSync, readFileSync } from 'node:fs';
import { PgembedError } from '../errors.js';
import type { Database, Queryable } from './types.js';

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

/** Ids recorded in `pgembed.migrations`, ascending; empty when pgembed is not installed. */
async function appliedIds(db: Queryable): Promise<number[]> {
  const { rows: table } = await db.query<{ found: boolean }>(
    `SELECT to_regclass('pgembed.migrations') IS NOT NULL AS found`,
  );
  if (!table[0]?.found) return [];
  const { rows } = await db.query<{ id: number }>(`SELECT id FROM pgembed.migrations ORDER BY id`);
  return rows.map((row) => row.id);
}

/**
 * Refuses a schema recorded by a newer pgembed: this code does not know what its migrations
 * changed, so running against it (or "upgrading" it) could undo them.
 */
function refuseNewer(applied: number[], shipped: Migration[]): void {
  const known = new Set(shipped.map((m) => m.id));
  const unknown = applied.filter((id) => !known.has(id));
  if (unknown.length === 0) return;
  const newest = Math.max(...shipped.map((m) => m.id));
  throw new PgembedError(
    'SCHEMA_TOO_NEW',
    `the pgembed schema in this database has ${migrations(unknown)}, newer than this pgembed (migrations up to ${newest}): upgrade pgembed to the release that installed it`,
  );
}

/**
 * Installs or upgrades the `pgembed` schema. Every migration runs in its own transaction holding a
 * transaction-scoped advisory lock, and records its id in `pgembed.migrations` in that same
 * transaction, so installers racing each other (two owners running `pgembed init` at once) both
 * succeed and each migration is applied exactly once. Returns the ids applied by this call.
 *
 * Throws SCHEMA_TOO_NEW, changing nothing, when the database holds a migration this code does not
 * ship. A schema that is already current is left alone without any DDL, so calling this as a role
 * that may not create schemas is harmless once the owner has installed pgembed.
 */
export async function migrate(db: Database): Promise<number[]> {
  const shipped = loadMigrations();
  const before = await appliedIds(db);
  refuseNewer(before, shipped);
  if (shipped.every((m) => before.includes(m.id))) return [];
  const applied: number[] = [];
  for (const migration of shipped) {
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
      // Under the lock: a newer installer racing this one may have got there first.
      const done = await appliedIds(tx);
      refuseNewer(done, shipped);
      if (done.includes(migration.id)) return false;
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
    // Under the installers' lock: two racing installers granting on the same objects at once fail
    // with "tuple concurrently updated".
    await db.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended('pgembed.migrate', 0))`);
      await tx.query(
        `SELECT pgembed.grant_worker_role() FROM pg_roles WHERE rolname = 'pgembed_worker'
           AND to_regprocedure('pgembed.grant_worker_role(name)') IS NOT NULL`,
      );
    });
  }
  return applied;
}

/**
 * Checks, without changing anything, that the installed `pgembed` schema is exactly the one this
 * code ships: what a worker, a search or a status check needs before it touches pgembed's tables.
 * Throws SCHEMA_NOT_INSTALLED, SCHEMA_OUTDATED (run `pgembed init` as the owner) or SCHEMA_TOO_NEW
 * (upgrade pgembed). Needs only read access to `pgembed.migrations`, as the `pgembed_worker` role has.
 */
export async function checkSchema(db: Queryable): Promise<void> {
  const shipped = loadMigrations();
  const applied = await appliedIds(db);
  if (applied.length === 0) {
    throw new PgembedError(
      'SCHEMA_NOT_INSTALLED',
      'pgembed is not installed in this database: run `pgembed init` (or migrate()) as the database owner',
    );
  }
  refuseNewer(applied, shipped);
  const missing = shipped.filter((m) => !applied.includes(m.id)).map((m) => m.id);
  if (missing.length > 0) {
    throw new PgembedError(
      'SCHEMA_OUTDATED',
      `the pgembed schema in this database lacks ${migrations(missing)} of this pgembed: run \`pgembed init\` (or migrate()) as the database owner to upgrade it`,
    );
  }
}

function migrations(ids: number[]): string {
  return `migration${ids.length > 1 ? 's' : ''} ${ids.join(', ')}`;
}

/** Highest migration id applied, or 0 when pgembed is not installed. */
export async function installedVersion(db: Queryable): Promise<number> {
  const applied = await appliedIds(db);
  return applied.length ? Math.max(...applied) : 0;
}
