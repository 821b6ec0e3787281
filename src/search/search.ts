import type { Queryable } from '../db/types.js';
import { PgembedError } from '../errors.js';
import { chunkKeyJson } from '../pipelines/keys.js';
import { findPipeline, type Pipeline } from '../pipelines/pipeline.js';
import type { EmbeddingProvider } from '../providers/types.js';

/** pgvector's HNSW index takes `vector` up to 2,000 dimensions; beyond, pgembed indexes `halfvec`. */
const MAX_VECTOR_INDEX_DIMS = 2000;

export interface SearchOptions {
  pipeline?: string;
  table?: string;
  /** Results to return (1–1000). */
  k?: number;
  /** Drop results scoring below this (cosine similarity, −1…1). */
  minScore?: number;
}

export interface SearchResult {
  /** Primary key of the source row, in key-column order. */
  documentKey: unknown[];
  chunkIndex: number;
  content: string;
  startChar: number;
  endChar: number;
  headingPath: string[] | null;
  /** Cosine distance (0 = same direction). */
  distance: number;
  /** Cosine similarity, 1 − distance. */
  score: number;
}

/**
 * Nearest chunks to an already-embedded query vector (cosine), using the pipeline's vector index.
 */
export async function searchByVector(
  db: Queryable,
  pipeline: Pipeline,
  vector: readonly number[],
  options: { k?: number; minScore?: number } = {},
): Promise<SearchResult[]> {
  const k = options.k ?? 10;
  if (!Number.isInteger(k) || k < 1 || k > 1000) {
    throw new PgembedError('INVALID_ARGUMENT', `k must be an integer between 1 and 1000 (got ${k})`);
  }
  if (vector.length !== pipeline.dimensions) {
    throw new PgembedError(
      'DIMENSION_MISMATCH',
      `the query vector has ${vector.length} dimensions but pipeline ${pipeline.name} stores ${pipeline.dimensions}`,
    );
  }
  const halfvec = pipeline.dimensions > MAX_VECTOR_INDEX_DIMS;
  const column = halfvec ? `c.embedding::halfvec(${pipeline.dimensions})` : 'c.embedding';
  const param = halfvec ? `$1::halfvec(${pipeline.dimensions})` : `$1::vector(${pipeline.dimensions})`;
  const { rows } = await db.query<SearchResult>(
    `SELECT ${chunkKeyJson(pipeline, 'c')} AS "documentKey", c.chunk_index AS "chunkIndex", c.content,
            c.start_char AS "startChar", c.end_char AS "endChar", c.heading_path AS "headingPath",
            ${column} <=> ${param} AS distance
     FROM ${pipeline.chunkTable} c
     ORDER BY ${column} <=> ${param}
     LIMIT $2::int`,
    [`[${vector.join(',')}]`, k],
  );
  const results = rows.map((row) => ({
    ...row,
    distance: Number(row.distance),
    score: 1 - Number(row.distance),
  }));
  return options.minScore === undefined ? results : results.filter((row) => row.score >= options.minScore!);
}

/**
 * Semantic search: embeds `query` with the pipeline's own provider and model (as a query, where
 * the provider distinguishes), then returns the nearest chunks.
 */
export async function search(
  db: Queryable,
  query: string,
  options: SearchOptions & { provider: (pipeline: Pipeline) => EmbeddingProvider },
): Promise<SearchResult[]> {
  if (typeof query !== 'string' || query.trim() === '') {
    throw new PgembedError('INVALID_ARGUMENT', 'the search query must be a non-empty string');
  }
  const pipeline = await findPipeline(db, options);
  const [vector] = await options.provider(pipeline).embed([query], { inputType: 'query' });
  return searchByVector(db, pipeline, vector!, options);
}
