import type { Command } from 'commander';
import { enableDocumentChunking } from '../pipelines/enable.js';
import { type GlobalOptions, output, parseInteger, withDatabase, withDatabaseOptions } from './common.js';

interface EnableCliOptions extends GlobalOptions {
  column: string;
  strategy?: string;
  chunkSize?: number;
  chunkOverlap?: number;
  chunkTable?: string;
  provider?: string;
  model?: string;
  dimensions?: number;
  pipeline?: string;
  apiKeyEnv?: string;
  baseUrl?: string;
  backfill: boolean;
}

export function registerEnable(program: Command): void {
  withDatabaseOptions(
    program
      .command('enable <table>')
      .description('start keeping a table embedded: chunk table, index, triggers, backfill')
      .requiredOption('--column <name>', 'text column holding each document')
      .option('--strategy <name>', 'chunking strategy', 'token')
      .option(
        '--chunk-size <tokens>',
        'tokens per chunk (default 400, or the model limit)',
        parseInteger('--chunk-size', 1, 1_000_000),
      )
      .option(
        '--chunk-overlap <tokens>',
        'tokens shared by neighbouring chunks',
        parseInteger('--chunk-overlap', 0, 1_000_000),
      )
      .option('--chunk-table <name>', 'chunk table name (default <table>_chunks)')
      .option('--provider <name>', 'local | openai | hash', 'local')
      .option('--model <name>', 'embedding model (default per provider)')
      .option(
        '--dimensions <n>',
        "vector dimensions (default: the model's)",
        parseInteger('--dimensions', 1, 16000),
      )
      .option('--pipeline <name>', 'pipeline name (default: the table name)')
      .option('--api-key-env <VAR>', 'environment variable holding the API key (never the key itself)')
      .option('--base-url <url>', 'OpenAI-compatible server base URL')
      .option('--no-backfill', 'do not queue the rows already in the table')
      .addHelpText(
        'after',
        `
Examples:
  $ pgembed enable articles --column body
  $ pgembed enable docs --column content --chunk-size 200 --chunk-overlap 20
  $ pgembed enable docs --column content --provider openai --model text-embedding-3-small --api-key-env OPENAI_API_KEY`,
      ),
  ).action(async (table: string, options: EnableCliOptions) => {
    await withDatabase(options, async (db) => {
      const result = await enableDocumentChunking(db, {
        table,
        column: options.column,
        chunkStrategy: options.strategy,
        chunkSize: options.chunkSize,
        chunkOverlap: options.chunkOverlap,
        chunkTable: options.chunkTable,
        provider: options.provider,
        model: options.model,
        dimensions: options.dimensions,
        pipeline: options.pipeline,
        apiKeyEnv: options.apiKeyEnv,
        baseUrl: options.baseUrl,
        backfill: options.backfill,
      });
      output(
        options,
        result,
        () =>
          `pipeline ${result.pipeline}: ${table}.${options.column} → ${result.chunk_table} ` +
          `(${result.provider}/${result.model}, ${result.dimensions} dims, ${result.chunk_strategy} ${result.chunk_size}/${result.chunk_overlap} tokens); ` +
          `${result.queued} documents queued, index ${result.index_state}. Run \`pgembed worker\` to process them.`,
      );
    });
  });
}
