import type { Queryable } from '../db/types.js';
import { PgembedError } from '../errors.js';
import { createProvider, knownDimensions } from '../providers/index.js';

export interface EnableOptions {
  /** Source table, optionally schema-qualified (`articles`, `content.articles`). */
  table: string;
  /** Text column holding each document. */
  column: string;
  chunkStrategy?: string;
  /** Tokens per chunk; default 400, or the model's input limit when smaller. */
  chunkSize?: number;
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
  /** Backfills of at least this many rows build the vector index after draining. */
  deferIndexRows?: number;
  maxAttempts?: number;
  backfill?: boolean;
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
  queued: number;
  index_state: 'live' | 'deferred';
}

const SQL_ARGUMENTS: [keyof EnableOptions, string, string][] = [
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
  const resolved = { ...options };
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
  const { rows } = await db.query<{ result: EnableResult }>(
    `SELECT pgembed.enable_document_chunking($1::text::regclass, $2::name${named.map((n) => `, ${n}`).join('')}) AS result`,
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
