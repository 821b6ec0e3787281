import type { Database } from '../../db/types.js';

/**
 * Builds the vector and full-text indexes of a pipeline whose backfill ran without them, once its
 * queue is empty. The pipeline row lock (SKIP LOCKED) makes one worker do it; the build runs in
 * that same transaction, so a worker dying mid-build leaves the pipeline deferred for the next.
 * `_create_indexes` sizes maintenance_work_mem to the graph it builds (migration 0013).
 * Returns whether this call built them.
 */
export async function buildDeferredIndex(db: Database, pipeline: string): Promise<boolean> {
  return db.transaction(async (tx) => {
    const { rowCount } = await tx.query(
      `SELECT 1 FROM pgembed.pipelines p
       WHERE p.name = $1::text AND p.index_state = 'deferred'
         AND NOT EXISTS (SELECT 1 FROM pgembed.queue q WHERE q.pipeline = p.name AND q.status <> 'failed')
       FOR UPDATE SKIP LOCKED`,
      [pipeline],
    );
    if (rowCount === 0) return false;
    await tx.query(`SELECT pgembed._create_indexes($1::text)`, [pipeline]);
    return true;
  });
}
