import type { Command } from 'commander';
import { type GlobalOptions, output, withDatabase, withDatabaseOptions } from './common.js';

export function registerDisable(program: Command): void {
  withDatabaseOptions(
    program
      .command('disable <table>')
      .description('stop keeping a table embedded (drops triggers and pending jobs; keeps chunks)')
      .option('--drop', 'remove the pipeline entirely (give the pipeline name)')
      .option('--drop-chunks', 'with --drop: also drop the chunk table')
      .addHelpText(
        'after',
        '\nExamples:\n  $ pgembed disable articles\n  $ pgembed disable articles --drop --drop-chunks',
      ),
  ).action(async (table: string, options: GlobalOptions & { drop?: boolean; dropChunks?: boolean }) => {
    await withDatabase(options, 'check', async (db) => {
      if (options.drop) {
        await db.query('SELECT pgembed.drop_pipeline($1::text, $2::boolean)', [
          table,
          options.dropChunks ?? false,
        ]);
        output(
          options,
          { dropped: table, chunksDropped: options.dropChunks ?? false },
          () => `pipeline ${table} dropped`,
        );
        return;
      }
      const { rows } = await db.query<{ n: number }>(
        'SELECT pgembed.disable_async($1::text::regclass) AS n',
        [table],
      );
      output(options, { disabled: rows[0]?.n ?? 0 }, () => `${rows[0]?.n} pipeline(s) on ${table} disabled`);
    });
  });
}
