import type { HierarchyLevel } from '../chunking/hierarchical.js';
import type { Queryable } from '../db/types.js';
import { PgembedError } from '../errors.js';
import { createProvider, knownDimensions } from '../providers/index.js';

export interface EnableOptions {
  /** Source table, optionally schema-qualified (`articles`, `content.articles`). */
  table: string;
  /** Text column holding each document. */
  column: string;
  /** Default `markdown` (title and heading path as context; plain text is cut at paragraphs and sentences). */
  chunkStrategy?: string;
  /** Tokens per chunk; default the model's (local: 96), else 400, or the model's input limit when smaller. */
  chunkSize?: number;
  /** Default a sixth of chunkSize, at most the model's default (local: 16), else 50. */
  chunkOverlap?: number;
  chunkTable?: string;
  provider?: string;
  model?: string;
  /** Discovered from the provider when neither given nor known. */
  dimensions?: number;
  /** Pipeline name; default the table's name. */
  pipeline?: string;
  /** Name of the environment variable holding the provider's API key. */
  apiKeyEnv?: string;
  baseUrl?: string;
  /**
   * A backfill expected to write at least this many chunk rows is written without the vector and
   * full-text indexes, which are built once it drains. Default: the `defer_index_chunks` setting.
   */
  deferIndexRows?: number;
  maxAttempts?: number;
  backfill?: boolean;
  /** Strategy options stored with the pipeline (see `ChunkingOptions`). */
  chunkOptions?: ChunkingOptions;
  /**
   * Hierarchical chunking (`chunkStrategy: 'hierarchical'`): sections, then chunks inside each
   * section; default markdown 2000/0 then semantic 400/50. `chunkSize`/`chunkOverlap` do not apply.
   */
  levels?: HierarchyLevel[];
}

/** Per-pipeline chunking options, stored as `pgembed.pipelines.chunk_options` (jsonb, snake_case). */
export interface ChunkingOptions {
  /** Title and heading path ahead of each chunk for the embedder; default on for `markdown` only. */
  context?: boolean;
  /** Between headings in the context's path; default `' > '`. */
  headingSeparator?: string;
  /** BCP 47 locale for sentence segmentation, e.g. `'de'`. */
  locale?: string;
  /** A text column of the source table holding each document's title (for the context). */
  titleColumn?: string;
  /**
   * `semantic` only: `'embedding'` also ends chunks where the embeddings of neighbouring sentences
   * drift apart (the worker embeds every sentence with the pipeline's provider first: about twice the
   * tokens of `'boundaries'`, the default).
   */
  breakpoints?: 'boundaries' | 'embedding';
  /** With `breakpoints: 'embedding'`: break above this percentile of neighbour distances (0–100, default 95). */
  breakpointPercentile?: number;
}

/** The jsonb the SQL function takes: snake_case keys, undefined ones left out. */
export function chunkOptionsJson(options: ChunkingOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (options.context !== undefined) out.context = options.context;
  if (options.headingSeparator !== undefined) out.heading_separator = options.headingSeparator;
  if (options.locale !== undefined) out.locale = options.locale;
  if (options.titleColumn !== undefined) out.title_column = options.titleColumn;
  if (options.breakpoints !== undefined) out.breakpoints = options.breakpoints;
  if (options.breakpointPercentile !== undefined) out.breakpoint_percentile = options.breakpointPercentile;
  return out;
}

export interface EnableResult {
  pipeline: string;
  chunk_table: string;
  provider: string;
  model: string;
  dimensions: number;
  chunk_strategy: string;
  chunk_size: number;
  chunk_overlap: number;
  chunk_options: Record<string, unknown>;
  /** Documents queued by the backfill. */
  queued: number;
  /** Chunks the backfill is expected to write (content bytes / 4 per token over the chunk size); 0 without backfill. */
  expected_chunks: number;
  /** `deferred`: the backfill writes without indexes, built once it drains. */
  index_state: 'live' | 'deferred';
}

const SQL_ARGUMENTS: [Exclude<keyof EnableOptions, 'levels'>, string, string][] = [
  ['chunkStrategy', 'chunk_strategy', 'text'],
  ['chunkSize', 'chunk_size', 'int'],
  ['chunkOverlap', 'chunk_overlap', 'int'],
  ['chunkTable', 'chunk_table_name', 'text'],
  ['provider', 'provider', 'text'],
  ['model', 'model', 'text'],
  ['dimensions', 'dimensions', 'int'],
  ['pipeline', 'pipeline_name', 'text'],
  ['apiKeyEnv', 'api_key_env', 'text'],
  ['baseUrl', 'base_url', 'text'],
  ['deferIndexRows', 'defer_index_rows', 'bigint'],
  ['maxAttempts', 'max_attempts', 'int'],
  ['backfill', 'backfill', 'boolean'],
  ['chunkOptions', 'chunk_options', 'jsonb'],
];

/**
 * Declares a pipeline: `pgembed.enable_document_chunking` with named arguments. When the model's
 * dimensions are not known, the provider is asked first (one embedding of a probe text).
 *
 * @example
 * ```ts
 * await enableDocumentChunking(db, { table: 'articles', column: 'body', chunkSize: 200 });
 * ```
 */
export async function enableDocumentChunking(db: Queryable, options: EnableOptions): Promise<EnableResult> {
  if (!options.table || !options.column) {
    throw new PgembedError(
      'INVALID_ARGUMENT',
      'enable needs a table and a column, e.g. { table: "articles", column: "body" }',
    );
  }
  const hierarchical = options.chunkStrategy === 'hierarchical' || options.levels !== undefined;
  if (hierarchical && (options.chunkSize !== undefined || options.chunkOverlap !== undefined)) {
    throw new PgembedError(
      'INVALID_ARGUMENT',
      'hierarchical chunking takes its sizes from levels, not chunkSize/chunkOverlap, e.g. levels: [{ strategy: "markdown", chunkSize: 2000, chunkOverlap: 0 }, { strategy: "semantic", chunkSize: 400, chunkOverlap: 50 }]',
    );
  }
  const resolved: Omit<EnableOptions, 'chunkOptions' | 'levels' | 'chunkStrategy'> & {
    chunkOptions?: string;
    chunkStrategy?: string;
    levels?: string;
  } = {
    ...options,
    chunkStrategy: hierarchical ? undefined : options.chunkStrategy,
    chunkOptions: options.chunkOptions ? JSON.stringify(chunkOptionsJson(options.chunkOptions)) : undefined,
    levels: options.levels
      ? JSON.stringify(
          options.levels.map((l) => ({
            strategy: l.strategy,
            chunk_size: l.chunkSize,
            chunk_overlap: l.chunkOverlap,
          })),
        )
      : undefined,
  };
  const provider = options.provider ?? 'local';
  if (
    resolved.dimensions === undefined &&
    options.model &&
    knownDimensions(provider, options.model) === undefined
  ) {
    resolved.dimensions = await probeDimensions({
      provider,
      model: options.model,
      baseUrl: options.baseUrl,
      apiKeyEnv: options.apiKeyEnv,
    });
  }
  const params: unknown[] = [options.table, options.column];
  const named: string[] = [];
  for (const [field, name, type] of SQL_ARGUMENTS) {
    if (resolved[field] === undefined) continue;
    params.push(resolved[field]);
    named.push(`${name} => $${params.length}::${type}`);
  }
  if (resolved.levels !== undefined) {
    params.push(resolved.levels);
    named.push(`levels => $${params.length}::jsonb`);
  }
  const fn = hierarchical ? 'enable_hierarchical_chunking' : 'enable_document_chunking';
  const { rows } = await db.query<{ result: EnableResult }>(
    `SELECT pgembed.${fn}($1::text::regclass, $2::name${named.map((n) => `, ${n}`).join('')}) AS result`,
    params,
  );
  return rows[0]!.result;
}

async function probeDimensions(config: Parameters<typeof createProvider>[0]): Promise<number> {
  const provider = createProvider(config);
  try {
    const [vector] = await provider.embed(['pgembed dimension probe'], { inputType: 'document' });
    if (!vector?.length)
      throw new PgembedError('PROVIDER_BAD_RESPONSE', 'the provider returned no embedding for a probe text');
    return vector.length;
  } finally {
    await provider.close?.();
  }
}
