import type { Queryable } from '../../db/types.js';

/**
 * Returns jobs whose lease expired (their worker crashed or stalled) to the queue, or fails those
 * that have used all their attempts (a document that kills every worker that touches it must
 * stop doing so). SKIP LOCKED: a job whose worker is writing back right now holds its row lock
 * and is left alone.
 */
export async function recoverExpiredLeases(db: Queryable, limit = 1000): Promise<number> {
  const { rowCount } = await db.query(
    `WITH expired AS (
       DELETE FROM pgembed.queue q
       WHERE q.id IN (
         SELECT id FROM pgembed.queue
         WHERE status = 'processing' AND leased_until < now()
         LIMIT $1::int
         FOR UPDATE SKIP LOCKED
       )
       RETURNING q.pipeline, q.doc_key, q.attempts, q.created_at
     )
     INSERT INTO pgembed.queue (pipeline, doc_key, attempts, status, last_error, last_error_code, created_at)
     SELECT e.pipeline, e.doc_key, e.attempts,
            CASE WHEN e.attempts >= coalesce(p.max_attempts, 1) THEN 'failed' ELSE 'pending' END,
            'lease expired: the worker holding this job stopped or stalled', 'LEASE_EXPIRED', e.created_at
     FROM expired e LEFT JOIN pgembed.pipelines p ON p.name = e.pipeline
     ON CONFLICT (pipeline, doc_key) WHERE status = 'pending' DO NOTHING`,
    [limit],
  );
  return rowCount;
}
