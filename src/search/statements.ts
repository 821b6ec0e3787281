import { createHash } from 'node:crypto';
import type { Queryable, QueryResult, SessionPool } from '../db/types.js';
import type { Pipeline } from '../pipelines/pipeline.js';

/**
 * Searches on a server without the SQL functions' fixed cost: the statement `pgembed.search` /
 * `pgembed.hybrid_search` would EXECUTE (`pgembed._search_statement`, migrations 0009 and 0012) is
 * fetched once per pipeline and filter shape, kept as a named prepared statement, and run on the
 * database's private search connections, whose session carries the scan settings (`SessionPool`),
 * including `enable_seqscan = off` for unfiltered searches, so that the planner cannot trade the
 * vector index for a sequential scan it underestimates. Measured in docs/search.md ("Latency at
 * 100,000 chunks").
 */

export type SearchKind = 'vector' | 'hybrid';

interface CachedStatement {
  name: string;
  text: string;
  /** Session settings the statement runs with (pgembed._apply_search_settings' values). */
  settings: Record<string, string | null>;
}

/** What a search's statement depends on besides the pipeline and kind (values are parameters). */
export interface SearchShape {
  filter?: Record<string, unknown> | undefined;
  tenant: boolean;
  /** Hybrid: which full-text queries the statement derives from the text. */
  textMatch?: string | undefined;
}

/** The plan of a prepared statement was invalidated in a way it cannot survive (a column's type changed). */
const CACHED_PLAN_CHANGED = '0A000';
/** Builds allowed for one search when the pipeline keeps changing while it runs. */
const ATTEMPTS = 3;

/** The private search connections of `db`, when it has them (node-postgres `Database`, not PGlite or a transaction). */
export function searchPoolOf(db: Queryable): SessionPool | undefined {
  return (db as { searchPool?: SessionPool }).searchPool;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * What the statement depends on in a filter: its keys, and whether metadata and source are objects
 * (the SQL validates those); values are parameters. Anything else is passed through unchanged so
 * that pgembed._search_statement raises the same error as pgembed.search.
 */
function filterShape(filter: Record<string, unknown> | undefined): Record<string, unknown> | null {
  if (filter === undefined) return null;
  const shape: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(filter)) {
    if (value === undefined) continue;
    if (key === 'metadata' && isPlainObject(value)) shape[key] = {};
    else if (key === 'source' && isPlainObject(value)) {
      shape[key] = Object.fromEntries(Object.keys(value).map((column) => [column, null]));
    } else shape[key] = value;
  }
  return shape;
}

const cacheKey = (pipeline: Pipeline, kind: SearchKind, search: SearchShape) =>
  JSON.stringify([
    pipeline.name,
    kind,
    filterShape(search.filter),
    search.tenant,
    kind === 'hybrid' ? (search.textMatch ?? null) : null,
  ]);

/**
 * The statement for `key`, built once: the cache holds the promise of it, so concurrent searches
 * share one build, and a notification emptying the cache during the build is seen afterwards (the
 * entry is no longer this promise) by runSearchStatement.
 */
function statementFor(
  pool: SessionPool,
  pipeline: Pipeline,
  kind: SearchKind,
  search: SearchShape,
  key: string,
): Promise<CachedStatement> {
  const cached = pool.cache.get(key) as Promise<CachedStatement> | undefined;
  if (cached) return cached;
  const shape = filterShape(search.filter);
  const building = pool
    .query<{ statement: string; settings: Record<string, string | null> }>(
      {
        name: 'pgembed_search_statement',
        text: `SELECT statement, settings FROM pgembed._search_statement($1::text, $2::text, $3::jsonb, $4::text, $5::text)`,
        values: [
          pipeline.name,
          kind,
          shape === null ? null : JSON.stringify(shape),
          search.tenant ? '' : null,
          kind === 'hybrid' ? (search.textMatch ?? null) : null,
        ],
      },
      {},
    )
    .then(({ rows }) => {
      const { statement: text, settings } = rows[0]!;
      return {
        // Named by its text: a statement built again with other text gets another name.
        name: `pgembed_search_${createHash('sha1').update(text).digest('hex').slice(0, 32)}`,
        text,
        settings: { ...settings, plan_cache_mode: 'force_custom_plan' },
      };
    });
  pool.cache.set(key, building);
  // A failed build is not kept: the next search asks again (and gets the error again if it stands).
  building.catch(() => {
    if (pool.cache.get(key) === building) pool.cache.delete(key);
  });
  return building;
}

/**
 * Runs a search of `kind` through its cached statement. `values` are the statement's parameters
 * (those of the SQL function's EXECUTE; see pgembed._search_statement). When the pipeline changed
 * before the statement ended (its cache entry is gone: see `SessionPool`), the result is discarded
 * and the search runs again with a statement built now, which raises the SQL function's error if
 * the search is no longer valid (e.g. a tenant is now required).
 */
export async function runSearchStatement<R>(
  pool: SessionPool,
  pipeline: Pipeline,
  kind: SearchKind,
  search: SearchShape & { efSearch?: number | undefined },
  values: readonly unknown[],
): Promise<QueryResult<R>> {
  const key = cacheKey(pipeline, kind, search);
  for (let attempt = 1; ; attempt++) {
    const building = statementFor(pool, pipeline, kind, search, key);
    const statement = await building;
    const settings =
      search.efSearch !== undefined && 'hnsw.ef_search' in statement.settings
        ? { ...statement.settings, 'hnsw.ef_search': String(search.efSearch) }
        : statement.settings;
    try {
      const result = await pool.query<R>({ name: statement.name, text: statement.text, values }, settings);
      if (pool.cache.get(key) === building || attempt === ATTEMPTS) return result;
    } catch (error) {
      if ((error as { code?: string }).code === CACHED_PLAN_CHANGED) pool.cache.clear();
      if (pool.cache.get(key) === building || attempt === ATTEMPTS) throw error;
    }
  }
}
