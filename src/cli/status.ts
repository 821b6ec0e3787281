import type { Command } from 'commander';
import { type GlobalOptions, output, withDatabase, withDatabaseOptions } from './common.js';

interface StatusRow {
  pipeline: string;
  status: string;
  status_message: string | null;
  index_state: string;
  pending: number;
  processing: number;
  failed: number;
  chunk_table: string;
  chunks: number;
}

export function registerStatus(program: Command): void {
  withDatabaseOptions(
    program
      .command('status')
      .description('pipelines, their queues and workers')
      .addHelpText('after', '\nExamples:\n  $ pgembed status\n  $ pgembed status --json'),
  ).action(async (options: GlobalOptions) => {
    await withDatabase(options, 'check', async (db) => {
      const { rows } = await db.query<StatusRow>(
        `SELECT s.pipeline, s.status, s.status_message, s.index_state, s.pending::int, s.processing::int,
                s.failed::int, p.chunk_table::text AS chunk_table
         FROM pgembed.queue_status s JOIN pgembed.pipelines p ON p.name = s.pipeline ORDER BY s.pipeline`,
      );
      for (const row of rows) {
        // chunk_table is regclass text from the catalog: already quoted.
        const { rows: count } = await db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM ${row.chunk_table}`,
        );
        row.chunks = count[0]!.n;
      }
      const { rows: workers } = await db.query<{ id: string; last_heartbeat: Date }>(
        `SELECT id, last_heartbeat FROM pgembed.workers WHERE last_heartbeat > now() - interval '1 minute' ORDER BY id`,
      );
      output(options, { pipelines: rows, workers }, () => {
        if (rows.length === 0)
          return 'no pipelines yet: create one with `pgembed enable <table> --column <col>`';
        const lines = rows.map(
          (r) =>
            `${r.pipeline}  ${r.status}  chunks=${r.chunks}  pending=${r.pending}  processing=${r.processing}  failed=${r.failed}  index=${r.index_state}` +
            (r.status_message ? `  (${r.status_message})` : ''),
        );
        lines.push(`${workers.length} live worker(s)`);
        return lines.join('\n');
      });
    });
  });
}
