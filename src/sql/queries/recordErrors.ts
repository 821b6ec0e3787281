import type { Queryable } from '../../db/types.js';
import type { DocKey } from '../../pipelines/keys.js';

/** Appends failures to pgembed.errors (messages only: never keys or document text). */
export async function recordErrors(
  db: Queryable,
  args: {
    pipeline: string;
    docKeys: DocKey[];
    attempts: number[];
    workerId: string;
    code: string | null;
    message: string;
  },
): Promise<void> {
  await db.query(
    `INSERT INTO pgembed.errors (pipeline, doc_key, attempt, worker_id, code, message)
     SELECT $1::text, k, a, $4::text, $5::text, $6::text FROM unnest($2::jsonb[], $3::int[]) AS t(k, a)`,
    [args.pipeline, args.docKeys, args.attempts, args.workerId, args.code, args.message],
  );
}
