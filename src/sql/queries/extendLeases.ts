import type { Queryable } from '../../db/types.js';

/** Keeps the leases of jobs still in progress alive (called with each heartbeat). */
export async function extendLeases(
  db: Queryable,
  args: { leases: string[]; leaseMs: number },
): Promise<void> {
  if (args.leases.length === 0) return;
  await db.query(
    `UPDATE pgembed.queue SET leased_until = now() + $2::int * interval '1 millisecond'
     WHERE lease = ANY($1::uuid[]) AND status = 'processing'`,
    [args.leases, args.leaseMs],
  );
}
