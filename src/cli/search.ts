import type { Command } from 'commander';
import { createPgembed } from '../index.js';
import { fail, type GlobalOptions, output, parseInteger, withDatabaseOptions } from './common.js';

interface SearchCliOptions extends GlobalOptions {
  table?: string;
  pipeline?: string;
  k: number;
}

export function registerSearch(program: Command): void {
  withDatabaseOptions(
    program
      .command('search <query>')
      .description("semantic search over a pipeline's chunks")
      .option('--table <name>', 'source table of the pipeline')
      .option('--pipeline <name>', 'pipeline name (when a table has several)')
      .option('-k, --k <n>', 'number of results', parseInteger('-k', 1, 1000), 5)
      .addHelpText(
        'after',
        '\nExamples:\n  $ pgembed search "how do I reset a password" --table articles\n  $ pgembed search "refund policy" --pipeline docs -k 10 --json',
      ),
  ).action(async (query: string, options: SearchCliOptions) => {
    try {
      if (!options.table && !options.pipeline) throw new Error('give --table <name> or --pipeline <name>');
      const pg = await createPgembed({ databaseUrl: options.databaseUrl, dataDir: options.dataDir });
      try {
        const results = await pg.search(query, {
          table: options.table,
          pipeline: options.pipeline,
          k: options.k,
        });
        output(options, results, () => formatResults(results));
      } finally {
        await pg.close();
      }
    } catch (error) {
      fail(error, options.json);
    }
  });
}

export function formatResults(
  results: { documentKey: unknown[]; chunkIndex: number; content: string; score: number }[],
): string {
  if (results.length === 0) return 'no results (is the worker running, and has it drained the queue?)';
  return results
    .map((r, i) => {
      const text = r.content.replace(/\s+/g, ' ').trim();
      return `${i + 1}. [${r.score.toFixed(3)}] document ${JSON.stringify(r.documentKey)} chunk ${r.chunkIndex}\n   ${text.length > 200 ? `${text.slice(0, 200)}…` : text}`;
    })
    .join('\n');
}
