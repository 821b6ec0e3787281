import type { Queryable } from '../../db/types.js';

/** Keeps pgembed.errors within its retention settings (pgembed.settings); called with each heartbeat. */
export async function pruneErrors(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: string }>(`SELECT pgembed.prune_errors()::text AS n`);
  return Number(rows[0]?.n ?? 0);
}
