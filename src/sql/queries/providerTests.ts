import type { Queryable } from '../../db/types.js';

/**
 * The newest pgembed.test_provider() request id (0 when none yet). A sequence, because requests must
 * be visible before the requesting transaction commits.
 */
export async function latestProviderTestRequest(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ id: string }>(
    `SELECT CASE WHEN is_called THEN last_value ELSE 0 END::text AS id FROM pgembed.provider_test_requests`,
  );
  return Number(rows[0]?.id ?? 0);
}

/** Records a worker's answer; the first worker to answer a request wins. */
export async function answerProviderTest(
  db: Queryable,
  args: { requestId: number; pipeline: string; workerId: string; result: object },
): Promise<void> {
  await db.query(
    `INSERT INTO pgembed.provider_test_results (request_id, pipeline, worker_id, result)
     VALUES ($1::bigint, $2::text, $3::text, $4::jsonb)
     ON CONFLICT (request_id, pipeline) DO NOTHING`,
    [args.requestId, args.pipeline, args.workerId, JSON.stringify(args.result)],
  );
  // Answers nobody collected (the caller timed out or was cancelled) are dropped after an hour.
  await db.query(`DELETE FROM pgembed.provider_test_results WHERE answered_at < now() - interval '1 hour'`);
}
