import type { Queryable } from '../../db/types.js';

/**
 * Puts leased jobs back in the queue, due after a per-job delay: retriable failures, and work
 * released at shutdown (`countAttempt` false: the attempt is not charged). The job is re-inserted
 * as pending and the old row removed in one statement, so a job already pending for the same
 * document (enqueued while this one ran) absorbs it instead of violating the one-pending-job rule.
 * Fenced by the lease: a worker whose lease was taken over changes nothing.
 */
export async function requeueJobs(
  db: Queryable,
  args: {
    ids: string[];
    lease: string;
    delaysMs: number[];
    error: string | null;
    errorCode: string | null;
    countAttempt: boolean;
  },
): Promise<number> {
  const { rowCount } = await db.query(
    `WITH mine AS (
       DELETE FROM pgembed.queue q
       USING unnest($1::bigint[], $3::int[]) AS d(id, delay_ms)
       WHERE q.id = d.id AND q.lease = $2::uuid
       RETURNING q.pipeline, q.doc_key, q.attempts, q.created_at, d.delay_ms
     )
     INSERT INTO pgembed.queue (pipeline, doc_key, attempts, run_at, last_error, last_error_code, created_at)
     SELECT pipeline, doc_key, CASE WHEN $6::boolean THEN attempts ELSE greatest(attempts - 1, 0) END,
            now() + delay_ms * interval '1 millisecond', $4::text, $5::text, created_at
     FROM mine
     ON CONFLICT (pipeline, doc_key) WHERE status = 'pending' DO NOTHING`,
    [args.ids, args.lease, args.delaysMs, args.error, args.errorCode, args.countAttempt],
  );
  return rowCount;
}
