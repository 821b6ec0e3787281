import { type Command, InvalidArgumentError, Option } from 'commander';
import type { HierarchyLevel } from '../chunking/hierarchical.js';
import { STRATEGY_NAMES } from '../chunking/index.js';
import { enableDocumentChunking } from '../pipelines/enable.js';
import { PROVIDER_NAMES } from '../providers/index.js';
import {
  type GlobalOptions,
  output,
  parseInteger,
  parseNumber,
  withDatabase,
  withDatabaseOptions,
} from './common.js';

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
  titleColumn?: string;
  context?: boolean;
  headingSeparator?: string;
  locale?: string;
  breakpoints?: 'boundaries' | 'embedding';
  breakpointPercentile?: number;
  levels?: HierarchyLevel[];
}

/** `markdown:2000,semantic:400:50` → levels (size, then optional overlap, per level). */
function parseLevels(value: string): HierarchyLevel[] {
  return value.split(',').map((part) => {
    const [strategy, size = '', overlap = '0', ...rest] = part.trim().split(':');
    const chunkSize = Number(size);
    const chunkOverlap = Number(overlap);
    if (!strategy || rest.length > 0 || !/^\d+$/.test(size) || !/^\d+$/.test(overlap) || chunkSize < 1) {
      throw new InvalidArgumentError(
        `--levels takes strategy:size[:overlap] per level, e.g. markdown:2000,semantic:400:50 (got "${part}")`,
      );
    }
    if (!(STRATEGY_NAMES as string[]).includes(strategy)) {
      throw new InvalidArgumentError(
        `--levels: unknown strategy "${strategy}"; known strategies: ${STRATEGY_NAMES.join(', ')}`,
      );
    }
    return { strategy, chunkSize, chunkOverlap };
  });
}

export function registerEnable(program: Command): void {
  withDatabaseOptions(
    program
      .command('enable <table>')
      .description('start keeping a table embedded: chunk table, index, triggers, backfill')
      .requiredOption('--column <name>', 'text column holding each document')
      .addOption(
        new Option('--strategy <name>', 'chunking strategy (default markdown)').choices([
          ...STRATEGY_NAMES,
          'hierarchical',
        ]),
      )
      .option(
        '--levels <levels>',
        'hierarchical: sections then chunks, strategy:size[:overlap] each (default markdown:2000,semantic:400:50)',
        parseLevels,
      )
      .option(
        '--title-column <name>',
        "text column with each document's title, put ahead of its chunks for the embedder",
      )
      .option(
        '--context',
        'put the title and heading path ahead of each chunk for the embedder (default for markdown)',
      )
      .option('--no-context', 'embed each chunk without title or heading path')
      .option('--heading-separator <text>', "between headings in the context's path (default ' > ')")
      .option('--locale <tag>', 'locale for sentence segmentation, e.g. de')
      .addOption(
        new Option(
          '--breakpoints <kind>',
          'semantic: also break where neighbouring sentences drift apart in meaning (embeds every sentence too)',
        ).choices(['boundaries', 'embedding']),
      )
      .option(
        '--breakpoint-percentile <p>',
        'with --breakpoints embedding: break above this percentile of neighbour distances (default 95)',
        parseNumber('--breakpoint-percentile', 0, 100, 'both'),
      )
      .option(
        '--chunk-size <tokens>',
        'tokens per chunk (default: local models 96, others 400 or the model limit)',
        parseInteger('--chunk-size', 1, 1_000_000),
      )
      .option(
        '--chunk-overlap <tokens>',
        'tokens shared by neighbouring chunks',
        parseInteger('--chunk-overlap', 0, 1_000_000),
      )
      .option('--chunk-table <name>', 'chunk table name (default <table>_chunks)')
      .addOption(
        new Option('--provider <name>', 'embedding provider').choices(PROVIDER_NAMES).default('local'),
      )
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
Installs or upgrades the pgembed schema first, like \`pgembed init\`: run it as the database owner.

Examples:
  $ pgembed enable articles --column body
  $ pgembed enable docs --column content --chunk-size 200 --chunk-overlap 20
  $ pgembed enable pages --column body --strategy markdown --title-column title
  $ pgembed enable manuals --column body --strategy hierarchical --levels markdown:1500,semantic:200:20
  $ pgembed enable notes --column body --strategy semantic --breakpoints embedding --breakpoint-percentile 90
  $ pgembed enable docs --column content --provider openai --model text-embedding-3-small --api-key-env OPENAI_API_KEY`,
      ),
  ).action(async (table: string, options: EnableCliOptions) => {
    await withDatabase(options, 'migrate', async (db) => {
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
        levels: options.levels,
        chunkOptions: {
          context: options.context,
          headingSeparator: options.headingSeparator,
          locale: options.locale,
          titleColumn: options.titleColumn,
          breakpoints: options.breakpoints,
          breakpointPercentile: options.breakpointPercentile,
        },
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
