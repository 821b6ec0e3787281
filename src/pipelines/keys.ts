import { quoteIdent } from '../db/quote.js';
import type { Pipeline } from './pipeline.js';

/**
 * A document's key as PostgreSQL prints its jsonb form (`[42]`, `["eu", 7]`). Kept as that text and
 * never parsed in JavaScript: a bigint or numeric key beyond 2^53 would not survive a round trip
 * through a JavaScript number, and the document would then look deleted.
 */
export type DocKey = string;

/**
 * SQL fragments that turn the queue's jsonb document keys (`[k1, k2, …]`, written by the triggers
 * with jsonb_build_array) back into typed key values. Key types come from the catalog
 * (format_type at enable time), column names are quoted.
 */

/** `(j->>0)::bigint, (j->>1)::text` for a jsonb key expression `j`. */
export function typedKeys(pipeline: Pipeline, json: string): string[] {
  return pipeline.keyTypes.map((type, i) => `(${json}->>${i})::${type}`);
}

/** `s."id" = (j->>0)::bigint AND …`: matches rows of `alias` (columns named like the source). */
export function matchSourceKey(pipeline: Pipeline, alias: string, json: string): string {
  const typed = typedKeys(pipeline, json);
  return pipeline.keyColumns.map((col, i) => `${alias}.${quoteIdent(col)} = ${typed[i]}`).join(' AND ');
}

/** Chunk-table key columns, in key order: `"doc_id"`, … */
export function chunkKeyColumns(pipeline: Pipeline): string[] {
  return pipeline.keyColumns.map((col) => quoteIdent(`doc_${col}`));
}

/** `jsonb_build_array(c."doc_id", …)`: a chunk row's document key, as the queue writes it. */
export function chunkKeyJson(pipeline: Pipeline, alias: string): string {
  return `jsonb_build_array(${chunkKeyColumns(pipeline)
    .map((col) => `${alias}.${col}`)
    .join(', ')})`;
}

/**
 * A FROM item: the rows of `table` (a chunk or sections table, keyed `doc_<column>`) belonging to the
 * documents in the jsonb[] parameter `param`, as `alias`, with each document's key as `alias_key.key`.
 * A LATERAL join, so each document costs one probe of the table's key index: an `IN (…)` let the
 * planner hash-join against a scan of the whole table, once per batch (quadratic over a backfill).
 */
export function rowsOfDocuments(pipeline: Pipeline, table: string, param: string, alias: string): string {
  const typed = typedKeys(pipeline, `${alias}_key.key`);
  const match = chunkKeyColumns(pipeline)
    .map((col, i) => `t.${col} = ${typed[i]}`)
    .join(' AND ');
  // OFFSET 0 keeps the planner from flattening the subquery back into a join it may hash.
  return `unnest(${param}::jsonb[]) AS ${alias}_key(key)
          CROSS JOIN LATERAL (SELECT * FROM ${table} t WHERE ${match} OFFSET 0) ${alias}`;
}
