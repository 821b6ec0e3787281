import type { Queryable } from '../../db/types.js';

/**
 * Pauses an active pipeline with a message saying why and what to do (shown by pgembed.queue_status
 * and `pgembed status`), and records the cause once in pgembed.errors. Workers stop claiming its
 * jobs until pgembed.resume_pipeline(). Returns false when it was not active (already paused by
 * another worker, or disabled).
 */
export async function pausePipeline(
  db: Queryable,
  args: { pipeline: string; message: string; workerId: string; code: string },
): Promise<boolean> {
  const { rowCount } = await db.query(
    `WITH paused AS (
       UPDATE pgembed.pipelines SET status = 'paused', status_message = $2::text
       WHERE name = $1::text AND status = 'active'
       RETURNING name
     )
     INSERT INTO pgembed.errors (pipeline, worker_id, code, message)
     SELECT name, $3::text, $4::text, $2::text FROM paused`,
    [args.pipeline, args.message, args.workerId, args.code],
  );
  return rowCount > 0;
}
