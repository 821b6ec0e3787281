import type { Queryable } from '../../db/types.js';

/**
 * Arms the wake-up flag of pipelines: from now on writers' triggers NOTIFY. Called by a worker that
 * found nothing to do, before its final look at the queue.
 */
export async function armWakeups(db: Queryable, pipelines: string[]): Promise<void> {
  await db.query(`UPDATE pgembed.wakeups SET armed = true WHERE pipeline = ANY($1::text[]) AND NOT armed`, [
    pipelines,
  ]);
}

/** Disarms a pipeline's flag after a NOTIFY woke the workers: they drain the queue without more. */
export async function disarmWakeup(db: Queryable, pipeline: string): Promise<void> {
  await db.query(`UPDATE pgembed.wakeups SET armed = false WHERE pipeline = $1::text AND armed`, [pipeline]);
}
