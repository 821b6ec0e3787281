import type { Queryable } from '../../db/types.js';

/** Whether a pipeline of this name exists (any status): false once pgembed.drop_pipeline() removed it. */
export async function pipelineExists(db: Queryable, pipeline: string): Promise<boolean> {
  const { rowCount } = await db.query(`SELECT 1 FROM pgembed.pipelines WHERE name = $1::text`, [pipeline]);
  return rowCount > 0;
}
