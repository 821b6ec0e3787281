import type { Queryable } from '../../db/types.js';

export async function registerWorker(
  db: Queryable,
  args: { id: string; hostname: string; pid: number; pipelines: string[] | null },
): Promise<void> {
  await db.query(
    `INSERT INTO pgembed.workers (id, hostname, pid, pipelines) VALUES ($1::text, $2::text, $3::int, $4::text[])
     ON CONFLICT (id) DO UPDATE SET last_heartbeat = now()`,
    [args.id, args.hostname, args.pid, args.pipelines],
  );
}

export async function heartbeat(db: Queryable, args: { id: string; stats: object }): Promise<void> {
  await db.query(`UPDATE pgembed.workers SET last_heartbeat = now(), stats = $2::jsonb WHERE id = $1::text`, [
    args.id,
    JSON.stringify(args.stats),
  ]);
}

export async function unregisterWorker(db: Queryable, id: string): Promise<void> {
  await db.query(`DELETE FROM pgembed.workers WHERE id = $1::text`, [id]);
}
