import { type Command, Option } from 'commander';
import { reindex } from '../search/indexes.js';
import { type GlobalOptions, output, parseInteger, withDatabase, withDatabaseOptions } from './common.js';

interface ReindexCliOptions extends GlobalOptions {
  type?: string;
  m?: number;
  efConstruction?: number;
  lists?: number;
}

export function registerReindex(program: Command): void {
  withDatabaseOptions(
    program
      .command('reindex <pipeline>')
      .description("rebuild a pipeline's indexes (CONCURRENTLY on servers), or switch the vector index type")
      .addOption(new Option('--type <type>', 'vector index type').choices(['hnsw', 'ivfflat']))
      .option('--m <n>', 'HNSW graph degree (default 16)', parseInteger('--m', 2, 100))
      .option(
        '--ef-construction <n>',
        'HNSW build candidates (default 64)',
        parseInteger('--ef-construction', 4, 1000),
      )
      .option(
        '--lists <n>',
        'IVFFlat lists (default rows / 1000, √rows beyond 1M)',
        parseInteger('--lists', 1, 32768),
      )
      .addHelpText(
        'after',
        `
Without options the vector and full-text indexes are rebuilt as they are. With options a new vector
index is built beside the old one, then the old one is dropped. On a server both happen
CONCURRENTLY: workers and searches keep running.

Examples:
  $ pgembed reindex articles
  $ pgembed reindex articles --type ivfflat
  $ pgembed reindex articles --type hnsw --m 32 --ef-construction 128 --json`,
      ),
  ).action((pipeline: string, options: ReindexCliOptions) =>
    withDatabase(options, 'check', async (db) => {
      const result = await reindex(db, pipeline, {
        ...(options.type ? { indexType: options.type as 'hnsw' | 'ivfflat' } : {}),
        ...(options.m !== undefined ? { m: options.m } : {}),
        ...(options.efConstruction !== undefined ? { efConstruction: options.efConstruction } : {}),
        ...(options.lists !== undefined ? { lists: options.lists } : {}),
      });
      output(options, result, () =>
        [
          ...result.statements,
          `${result.pipeline}: ${result.indexType} index rebuilt${result.concurrently ? ' concurrently' : ''} in ${(result.milliseconds / 1000).toFixed(1)} s`,
        ].join('\n'),
      );
    }),
  );
}
