import type { Queryable } from '../../db/types.js';

/**
 * Moves committed entries of the writers' append-only log into the queue, one job per document
 * key (a key already pending is not queued twice). Entries locked by another worker's move are
 * skipped. Returns the number of log entries moved.
 */
export async function moveQueueLog(db: Queryable, limit = 10_000): Promise<number> {
  const { rows } = await db.query<{ moved: number }>(
    `WITH moved AS (
       DELETE FROM pgembed.queue_log
       WHERE ctid = ANY (ARRAY(SELECT ctid FROM pgembed.queue_log LIMIT $1::int FOR UPDATE SKIP LOCKED))
       RETURNING pipeline, doc_key
     ), queued AS (
       INSERT INTO pgembed.queue (pipeline, doc_key)
       SELECT DISTINCT pipeline, doc_key FROM moved
       ON CONFLICT (pipeline, doc_key) WHERE status = 'pending' DO NOTHING
     )
     SELECT count(*)::int AS moved FROM moved`,
    [limit],
  );
  return rows[0]?.moved ?? 0;
}
