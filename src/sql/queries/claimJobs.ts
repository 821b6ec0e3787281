import type { Queryable } from '../../db/types.js';
import type { DocKey } from '../../pipelines/keys.js';
import { moveQueueLog } from './moveQueueLog.js';

export interface ClaimedJob {
  id: string;
  docKey: DocKey;
  attempts: number;
}

/**
 * Claims up to `limit` due jobs of one pipeline for this worker: marks them processing under a
 * fresh lease token that every later state change must present. SKIP LOCKED lets any number of
 * workers claim side by side without waiting on each other. Writers' committed log entries are
 * moved into the queue first, so a claim sees every committed change.
 */
export async function claimJobs(
  db: Queryable,
  args: { pipeline: string; limit: number; lease: string; leaseMs: number; workerId: string },
): Promise<ClaimedJob[]> {
  await moveQueueLog(db);
  const { rows } = await db.query<ClaimedJob>(
    `WITH picked AS (
       SELECT id FROM pgembed.queue
       WHERE pipeline = $1::text AND status = 'pending' AND run_at <= now()
       ORDER BY run_at
       LIMIT $2::int
       FOR UPDATE SKIP LOCKED
     )
     UPDATE pgembed.queue q
     SET status = 'processing', lease = $3::uuid, leased_until = now() + $4::int * interval '1 millisecond',
         worker_id = $5::text, attempts = q.attempts + 1
     FROM picked WHERE q.id = picked.id
     RETURNING q.id::text AS id, q.doc_key::text AS "docKey", q.attempts`,
    [args.pipeline, args.limit, args.lease, args.leaseMs, args.workerId],
  );
  return rows;
}
