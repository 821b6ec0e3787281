import type { Queryable } from '../db/types.js';
import { PgembedError } from '../errors.js';

/** A pipeline as stored in `pgembed.pipelines`. */
export interface Pipeline {
  name: string;
  /** Source table, as regclass text (quoted and schema-qualified where needed). */
  sourceTable: string;
  contentColumn: string;
  keyColumns: string[];
  /** Type of each key column as format_type() wrote it from the catalog. */
  keyTypes: string[];
  /** Chunk table, as regclass text. */
  chunkTable: string;
  chunkStrategy: string;
  chunkSize: number;
  chunkOverlap: number;
  chunkOptions: Record<string, unknown>;
  provider: string;
  model: string;
  dimensions: number;
  providerOptions: { api_key_env?: string; base_url?: string };
  indexType: string;
  indexState: 'live' | 'deferred';
  textSearchConfig: string;
  maxAttempts: number;
  status: 'active' | 'paused' | 'disabled';
}

const SELECT_PIPELINES = `
  SELECT name, source_table::text AS "sourceTable", content_column::text AS "contentColumn",
         key_columns::text[] AS "keyColumns", key_types AS "keyTypes", chunk_table::text AS "chunkTable",
         chunk_strategy AS "chunkStrategy", chunk_size AS "chunkSize", chunk_overlap AS "chunkOverlap",
         chunk_options AS "chunkOptions", provider, model, dimensions,
         provider_options AS "providerOptions", index_type AS "indexType", index_state AS "indexState",
         text_search_config::text AS "textSearchConfig", max_attempts AS "maxAttempts", status
  FROM pgembed.pipelines`;

export async function listPipelines(db: Queryable): Promise<Pipeline[]> {
  const { rows } = await db.query<Pipeline>(`${SELECT_PIPELINES} ORDER BY name`);
  return rows;
}

/**
 * Finds a pipeline by name or by its source table (`articles`, `public.articles`). A table with
 * several pipelines must be named by pipeline.
 */
export async function findPipeline(
  db: Queryable,
  target: { pipeline?: string; table?: string },
): Promise<Pipeline> {
  if (target.pipeline) {
    const { rows } = await db.query<Pipeline>(`${SELECT_PIPELINES} WHERE name = $1`, [target.pipeline]);
    if (rows[0]) return rows[0];
    throw new PgembedError('PIPELINE_NOT_FOUND', `no pipeline named "${target.pipeline}"`, {
      kind: 'configuration',
    });
  }
  if (target.table) {
    const { rows } = await db.query<Pipeline>(
      `${SELECT_PIPELINES} WHERE source_table = to_regclass($1) ORDER BY name`,
      [target.table],
    );
    if (rows.length === 1) return rows[0]!;
    if (rows.length > 1) {
      throw new PgembedError(
        'INVALID_ARGUMENT',
        `table ${target.table} has ${rows.length} pipelines (${rows.map((r) => r.name).join(', ')}); name one with pipeline`,
      );
    }
    throw new PgembedError('PIPELINE_NOT_FOUND', `no pipeline reads table "${target.table}"`, {
      kind: 'configuration',
    });
  }
  throw new PgembedError('INVALID_ARGUMENT', 'give a pipeline name or a table');
}
