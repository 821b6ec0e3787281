import type { Queryable } from '../../db/types.js';

/** Marks leased jobs failed for good, keeping the error; fenced by the lease. */
export async function failJobs(
  db: Queryable,
  args: { ids: string[]; lease: string; error: string; errorCode: string | null },
): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE pgembed.queue
     SET status = 'failed', lease = NULL, leased_until = NULL, last_error = $3::text, last_error_code = $4::text
     WHERE id = ANY($1::bigint[]) AND lease = $2::uuid`,
    [args.ids, args.lease, args.error, args.errorCode],
  );
  return rowCount;
}
