import type { Queryable } from '../db/types.js';
import { PgembedError } from '../errors.js';
import { findPipeline, type Pipeline } from '../pipelines/pipeline.js';
import type { EmbeddingProvider } from '../providers/types.js';
import { runSearchStatement, searchPoolOf } from './statements.js';

/** A value a source-table column is compared with (equality); an array means "any of these". */
export type FilterValue = string | number | boolean;

/**
 * Restricts a search. Both parts are passed to PostgreSQL as parameters, never spliced into SQL;
 * column names are checked against the catalog.
 */
export interface SearchFilter {
  /** Chunks whose `metadata` contains this object (`metadata @> filter.metadata`). */
  metadata?: Record<string, unknown>;
  /** Documents whose source-table columns equal these values: `{ category: ['faq', 'guide'] }`. */
  source?: Record<string, FilterValue | FilterValue[]>;
}

/** Tuning of hybrid (full-text + vector) retrieval; every field has a measured default. */
export interface HybridOptions {
  /**
   * Reciprocal-rank-fusion constant: score = Σ weight / (rrfK + rank). Default 20 (measured best in
   * bench/retrieval; the customary 60 lost Recall@5 to vector-only there).
   */
  rrfK?: number;
  /** Weight of the vector ranking. Default 1. */
  vectorWeight?: number;
  /** Weight of the full-text ranking. Default 1. */
  textWeight?: number;
  /** Candidates each ranker contributes (≥ k). Default max(4·k, 40). */
  candidates?: number;
  /**
   * `all`: every word of the query must occur (websearch_to_tsquery); `any`: at least one;
   * `auto` (default): chunks with every word first, then chunks with some of them.
   */
  textMatch?: 'auto' | 'all' | 'any';
  /**
   * Weight of any-word (fallback) full-text matches relative to textWeight. Default 0.25: they are a
   * weak signal, and at full weight they made hybrid worse than vector-only (docs/search.md).
   */
  fallbackWeight?: number;
}

export interface SearchOptions {
  pipeline?: string;
  table?: string;
  /** Results to return (1–1000). Default 10. */
  k?: number;
  filter?: SearchFilter;
  /**
   * Fuse full-text and vector rankings (reciprocal rank fusion). Default `true`: it was never worse
   * than vector-only in pgembed's retrieval evaluation (docs/search.md). `false` for vector only.
   */
  hybrid?: boolean | HybridOptions;
  /** Required on pipelines with a tenant column (`pgembed.configure_search`); only that tenant's rows. */
  tenant?: string | number;
  /** Drop results whose cosine similarity to the query is below this (−1…1). */
  minScore?: number;
  /** Best chunk per document: k results from k different documents. */
  groupByDocument?: boolean;
  /** hnsw.ef_search for this search (1–1000); default the pipeline's tuned value, else 40. */
  efSearch?: number;
  /**
   * Hierarchical pipelines: return each hit's parent section as `parent` (null for chunks without
   * one; always null on other pipelines). One extra query for all hits.
   */
  parents?: boolean;
}

/** The section a chunk of a hierarchical pipeline was cut from (`pgembed.chunk_parents`). */
export interface ParentSection {
  sectionIndex: number;
  content: string;
  /** Offsets of the section in the source text. */
  startChar: number;
  endChar: number;
  headingPath: string[] | null;
  tokenCount: number;
}

export interface SearchResult {
  /** Primary key of the source row, in key-column order. */
  documentKey: unknown[];
  chunkId: string;
  chunkIndex: number;
  content: string;
  startChar: number;
  endChar: number;
  headingPath: string[] | null;
  metadata: Record<string, unknown>;
  /** Cosine distance to the query (0 = same direction); null for full-text-only searches. */
  distance: number | null;
  /** Cosine similarity, 1 − distance; null for full-text-only searches. */
  similarity: number | null;
  /** What results are ordered by: the similarity for vector search, the fused RRF score for hybrid. */
  score: number;
  /** Hybrid only: rank in the vector ranking (1 = nearest), null when outside its window. */
  vectorRank?: number | null;
  /** Hybrid only: rank in the full-text ranking, null when the text did not match or fell outside. */
  textRank?: number | null;
  /** With `parents: true` only: the chunk's parent section, null when it has none. */
  parent?: ParentSection | null;
}

const HYBRID_DEFAULTS = {
  rrfK: 20,
  vectorWeight: 1,
  textWeight: 1,
  textMatch: 'auto',
  fallbackWeight: 0.25,
} as const satisfies HybridOptions;

interface Row {
  document_key: unknown[];
  chunk_id: string;
  chunk_index: number;
  content: string;
  start_char: number;
  end_char: number;
  heading_path: string[] | null;
  metadata: Record<string, unknown>;
  distance: number | null;
  score: number;
  vector_rank?: number | null;
  text_rank?: number | null;
}

function checkOptions(options: SearchOptions): { k: number } {
  const k = options.k ?? 10;
  if (!Number.isInteger(k) || k < 1 || k > 1000) {
    throw new PgembedError('INVALID_ARGUMENT', `k must be an integer between 1 and 1000 (got ${k})`);
  }
  if (options.minScore !== undefined && !(options.minScore >= -1 && options.minScore <= 1)) {
    throw new PgembedError('INVALID_ARGUMENT', `minScore must be between -1 and 1 (got ${options.minScore})`);
  }
  if (
    options.efSearch !== undefined &&
    (!Number.isInteger(options.efSearch) || options.efSearch < 1 || options.efSearch > 1000)
  ) {
    throw new PgembedError(
      'INVALID_ARGUMENT',
      `efSearch must be an integer between 1 and 1000 (got ${options.efSearch})`,
    );
  }
  if (options.parents !== undefined && typeof options.parents !== 'boolean') {
    throw new PgembedError(
      'INVALID_ARGUMENT',
      `parents must be true or false (got ${String(options.parents)})`,
    );
  }
  if (options.filter !== undefined && (typeof options.filter !== 'object' || options.filter === null)) {
    throw new PgembedError(
      'INVALID_ARGUMENT',
      'filter must be an object like { metadata: {...}, source: {...} }',
    );
  }
  return { k };
}

const checkWeight = (weight: number) => weight === 0 || (weight >= 1e-6 && weight <= 1e6);

/** pgembed.hybrid_search's checks, made here too: the server path runs its statement without it. */
function checkHybrid(k: number, hybrid: HybridOptions, text: string | null, hasVector: boolean): void {
  const fail = (message: string): never => {
    throw new PgembedError('INVALID_ARGUMENT', message);
  };
  const { rrfK, vectorWeight, textWeight, fallbackWeight, textMatch, candidates } = hybrid;
  if (!Number.isInteger(rrfK) || rrfK! < 0) fail(`rrf_k must be an integer, 0 or more (got ${rrfK})`);
  if (![vectorWeight, textWeight, fallbackWeight].every((w) => typeof w === 'number' && checkWeight(w))) {
    fail(
      `vector_weight, text_weight and fallback_weight must be 0 or between 1e-6 and 1e6 (got ${vectorWeight}, ${textWeight}, ${fallbackWeight})`,
    );
  }
  if (!['auto', 'all', 'any'].includes(textMatch as string)) {
    fail(`text_match must be auto, all or any (got "${textMatch}")`);
  }
  if (candidates !== undefined && (!Number.isInteger(candidates) || candidates < k || candidates > 10000)) {
    fail(`candidates must be between k (${k}) and 10000 (got ${candidates})`);
  }
  if (!hasVector && (text ?? '').trim() === '') fail('give a query_text, a query_embedding, or both');
}

function checkVector(pipeline: Pipeline, vector: readonly number[]): string {
  if (vector.length !== pipeline.dimensions) {
    throw new PgembedError(
      'DIMENSION_MISMATCH',
      `the query vector has ${vector.length} dimensions but pipeline ${pipeline.name} stores ${pipeline.dimensions}`,
    );
  }
  return `[${vector.join(',')}]`;
}

function toResult(row: Row, hybrid: boolean): SearchResult {
  const distance = row.distance === null ? null : Number(row.distance);
  const result: SearchResult = {
    documentKey: row.document_key,
    chunkId: String(row.chunk_id),
    chunkIndex: row.chunk_index,
    content: row.content,
    startChar: row.start_char,
    endChar: row.end_char,
    headingPath: row.heading_path,
    metadata: row.metadata,
    distance,
    similarity: distance === null ? null : 1 - distance,
    score: Number(row.score),
  };
  if (hybrid) {
    result.vectorRank = row.vector_rank ?? null;
    result.textRank = row.text_rank ?? null;
  }
  return result;
}

interface ParentRow {
  chunk_id: string;
  section_index: number;
  content: string;
  token_count: number;
  start_char: number;
  end_char: number;
  heading_path: string[] | null;
}

/** Adds each result's parent section, with one query for all of them (`pgembed.chunk_parents`). */
async function withParents(
  db: Queryable,
  pipeline: Pipeline,
  results: SearchResult[],
): Promise<SearchResult[]> {
  const { rows } = results.length
    ? await db.query<ParentRow>(`SELECT * FROM pgembed.chunk_parents($1::text, $2::bigint[])`, [
        pipeline.name,
        results.map((r) => r.chunkId),
      ])
    : { rows: [] };
  const byChunk = new Map(rows.map((row) => [String(row.chunk_id), row]));
  for (const result of results) {
    const row = byChunk.get(result.chunkId);
    result.parent = row
      ? {
          sectionIndex: row.section_index,
          content: row.content,
          startChar: row.start_char,
          endChar: row.end_char,
          headingPath: row.heading_path,
          tokenCount: row.token_count,
        }
      : null;
  }
  return results;
}

/** What the cached statement of a search depends on, besides its kind. */
const searchOf = (options: Omit<SearchOptions, 'pipeline' | 'table' | 'hybrid'>) => ({
  filter: options.filter as Record<string, unknown> | undefined,
  tenant: options.tenant !== undefined,
  efSearch: options.efSearch,
});

/**
 * Nearest chunks to an already-embedded query vector (cosine), as `pgembed.search` returns them: the
 * pipeline's vector index with iterative scans, so a filter never starves the result. On a server
 * (`db` a node-postgres `Database`) the function's statement runs directly on the database's private
 * search connections (src/search/statements.ts); in a transaction, on PGlite and with
 * `groupByDocument`, the SQL function is called.
 *
 * @example
 * ```ts
 * const pipeline = await findPipeline(db, { table: 'articles' });
 * const hits = await searchByVector(db, pipeline, queryVector, { k: 5, filter: { metadata: { lang: 'en' } } });
 * ```
 */
export async function searchByVector(
  db: Queryable,
  pipeline: Pipeline,
  vector: readonly number[],
  options: Omit<SearchOptions, 'pipeline' | 'table' | 'hybrid'> = {},
): Promise<SearchResult[]> {
  const { k } = checkOptions(options);
  const pool = searchPoolOf(db);
  const { rows } =
    pool && !options.groupByDocument
      ? await runSearchStatement<Row>(pool, pipeline, 'vector', searchOf(options), [
          checkVector(pipeline, vector),
          k,
          options.filter?.metadata === undefined ? null : JSON.stringify(options.filter.metadata),
          options.filter?.source === undefined ? null : JSON.stringify(options.filter.source),
          options.tenant === undefined ? null : String(options.tenant),
          options.minScore ?? null,
        ])
      : await db.query<Row>(
          `SELECT * FROM pgembed.search($1::text, $2::vector, $3::int, $4::jsonb, $5::text, $6::boolean, $7::float8, $8::int)`,
          [
            pipeline.name,
            checkVector(pipeline, vector),
            k,
            options.filter ? JSON.stringify(options.filter) : null,
            options.tenant === undefined ? null : String(options.tenant),
            options.groupByDocument ?? false,
            options.minScore ?? null,
            options.efSearch ?? null,
          ],
        );
  const results = rows.map((row) => toResult(row, false));
  return options.parents ? withParents(db, pipeline, results) : results;
}

/**
 * Hybrid retrieval as `pgembed.hybrid_search` returns it (run like {@link searchByVector}): full-text
 * and vector rankings fused by reciprocal rank fusion. `vector` null gives full-text search alone;
 * `text` null, vector search alone.
 *
 * @example
 * ```ts
 * const hits = await hybridSearch(db, pipeline, 'error 40P01 deadlock', queryVector, { k: 5 });
 * hits[0].textRank; // 1
 * ```
 */
export async function hybridSearch(
  db: Queryable,
  pipeline: Pipeline,
  text: string | null,
  vector: readonly number[] | null,
  options: Omit<SearchOptions, 'pipeline' | 'table' | 'hybrid'> & { hybrid?: HybridOptions } = {},
): Promise<SearchResult[]> {
  const { k } = checkOptions(options);
  const hybrid = { ...HYBRID_DEFAULTS, ...options.hybrid };
  checkHybrid(k, hybrid, text, vector !== null);
  const pool = searchPoolOf(db);
  const { rows } =
    pool && !options.groupByDocument
      ? await runSearchStatement<Row>(
          pool,
          pipeline,
          'hybrid',
          { ...searchOf(options), textMatch: hybrid.textMatch },
          [
            vector === null ? null : checkVector(pipeline, vector),
            hybrid.candidates ?? Math.max(k * 4, 40),
            options.filter?.metadata === undefined ? null : JSON.stringify(options.filter.metadata),
            options.filter?.source === undefined ? null : JSON.stringify(options.filter.source),
            options.tenant === undefined ? null : String(options.tenant),
            text,
            hybrid.textMatch,
            hybrid.rrfK,
            hybrid.vectorWeight,
            hybrid.textWeight,
            options.minScore ?? null,
            k,
            hybrid.fallbackWeight,
          ],
        )
      : await db.query<Row>(
          `SELECT * FROM pgembed.hybrid_search($1::text, $2::text, $3::vector, k => $4::int, filter => $5::jsonb,
       tenant => $6::text, group_by_document => $7::boolean, min_score => $8::float8, rrf_k => $9::int,
       vector_weight => $10::float8, text_weight => $11::float8, candidates => $12::int, text_match => $13::text,
       ef_search => $14::int, fallback_weight => $15::float8)`,
          [
            pipeline.name,
            text,
            vector === null ? null : checkVector(pipeline, vector),
            k,
            options.filter ? JSON.stringify(options.filter) : null,
            options.tenant === undefined ? null : String(options.tenant),
            options.groupByDocument ?? false,
            options.minScore ?? null,
            hybrid.rrfK,
            hybrid.vectorWeight,
            hybrid.textWeight,
            hybrid.candidates ?? null,
            hybrid.textMatch,
            options.efSearch ?? null,
            hybrid.fallbackWeight,
          ],
        );
  const results = rows.map((row) => toResult(row, true));
  return options.parents ? withParents(db, pipeline, results) : results;
}

/**
 * Search: embeds `query` with the pipeline's own provider and model (as a query, where the provider
 * distinguishes), then runs hybrid (default) or vector search.
 *
 * @example
 * ```ts
 * const hits = await search(db, 'how do refunds work?', { table: 'articles', k: 5, provider });
 * ```
 */
export async function search(
  db: Queryable,
  query: string,
  options: SearchOptions & { provider: (pipeline: Pipeline) => EmbeddingProvider },
): Promise<SearchResult[]> {
  if (typeof query !== 'string' || query.trim() === '') {
    throw new PgembedError('INVALID_ARGUMENT', 'the search query must be a non-empty string');
  }
  checkOptions(options);
  const pipeline = await findPipeline(db, options);
  const [vector] = await options.provider(pipeline).embed([query], { inputType: 'query' });
  if (options.hybrid === false) return searchByVector(db, pipeline, vector!, options);
  return hybridSearch(db, pipeline, query, vector!, {
    ...options,
    hybrid: typeof options.hybrid === 'object' ? options.hybrid : {},
  });
}
