import type { Database } from '../db/types.js';
import { PgembedError } from '../errors.js';
import { findPipeline } from '../pipelines/pipeline.js';

export interface ReindexOptions {
  /** Switch the vector index type; default: keep the current one (HNSW for new pipelines). */
  indexType?: 'hnsw' | 'ivfflat';
  /** HNSW graph degree (2–100); default the current index's, else 16. */
  m?: number;
  /** HNSW build candidate list (≥ 2·m, ≤ 1000); default the current index's, else 64. */
  efConstruction?: number;
  /** IVFFlat lists; default rows / 1000 (√rows beyond a million rows). */
  lists?: number;
}

export interface ReindexResult {
  pipeline: string;
  /** Statements run, in order. */
  statements: string[];
  /** Whether the builds ran CONCURRENTLY (servers), i.e. without blocking writes to the chunk table. */
  concurrently: boolean;
  indexType: string;
  milliseconds: number;
}

/**
 * Rebuilds a pipeline's indexes. On a server the builds run `CONCURRENTLY`, so workers keep writing
 * chunks and searches keep running; PGlite has a single connection, so nothing can run beside a
 * build there and plain builds are used.
 *
 * Without options: `REINDEX INDEX [CONCURRENTLY]` of the vector and full-text indexes (e.g. after
 * many updates have degraded the HNSW graph). With `indexType`/`m`/`efConstruction`/`lists`: a new
 * vector index is built beside the old one, then the old one is dropped, and the pipeline records
 * the new settings (searches then use them, e.g. IVFFlat's probes).
 *
 * @example
 * ```ts
 * await reindex(db, 'articles', { indexType: 'ivfflat' }); // lists from the row count
 * ```
 */
export async function reindex(
  db: Database,
  pipelineName: string,
  options: ReindexOptions = {},
): Promise<ReindexResult> {
  const began = performance.now();
  const pipeline = await findPipeline(db, { pipeline: pipelineName });
  if (pipeline.indexState === 'deferred') {
    throw new PgembedError(
      'INVALID_ARGUMENT',
      `pipeline ${pipeline.name} is still backfilling; its indexes are built when the queue drains (see \`pgembed status\`)`,
    );
  }
  const concurrently = db.kind === 'postgres';
  const cc = concurrently ? ' CONCURRENTLY' : '';
  const statements: string[] = [];
  const run = async (sql: string) => {
    statements.push(sql);
    await db.query(sql);
  };
  const { rows: existing } = await db.query<{ index: string; am: string }>(
    `SELECT i.indexrelid::regclass::text AS index, am.amname AS am
     FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_am am ON am.oid = ic.relam
     WHERE i.indrelid = $1::regclass AND am.amname IN ('hnsw', 'ivfflat', 'gin')
     ORDER BY 1`,
    [pipeline.chunkTable],
  );
  const vectorIndexes = existing.filter((row) => row.am !== 'gin').map((row) => row.index);
  const change =
    options.indexType !== undefined ||
    options.m !== undefined ||
    options.efConstruction !== undefined ||
    options.lists !== undefined ||
    (vectorIndexes.length === 0 && pipeline.indexType !== 'none');

  if (!change) {
    for (const { index } of existing) await run(`REINDEX INDEX${cc} ${index}`);
  } else {
    const { rows } = await db.query<{ definition: string }>(
      `SELECT pgembed.vector_index_definition($1::text, $2::text, $3::int, $4::int, $5::int) AS definition`,
      [
        pipeline.name,
        options.indexType ?? null,
        options.m ?? null,
        options.efConstruction ?? null,
        options.lists ?? null,
      ],
    );
    const definition = rows[0]!.definition;
    const create = definition.replace(/^CREATE INDEX /, `CREATE INDEX${cc} `);
    const before = new Set(vectorIndexes);
    try {
      await run(create);
    } catch (error) {
      // A failed CONCURRENTLY build leaves an INVALID index behind: remove it.
      if (concurrently) await dropInvalid(db, pipeline.chunkTable, before);
      throw error;
    }
    for (const index of vectorIndexes) await run(`DROP INDEX${cc} IF EXISTS ${index}`);
    await db.query(`SELECT pgembed._record_vector_index($1::text, $2::text)`, [pipeline.name, definition]);
  }
  const { rows: type } = await db.query<{ index_type: string }>(
    `SELECT index_type FROM pgembed.pipelines WHERE name = $1`,
    [pipeline.name],
  );
  return {
    pipeline: pipeline.name,
    statements,
    concurrently,
    indexType: type[0]!.index_type,
    milliseconds: Math.round(performance.now() - began),
  };
}

async function dropInvalid(db: Database, chunkTable: string, keep: Set<string>): Promise<void> {
  const { rows } = await db.query<{ index: string }>(
    `SELECT i.indexrelid::regclass::text AS index FROM pg_index i
     WHERE i.indrelid = $1::regclass AND NOT i.indisvalid`,
    [chunkTable],
  );
  for (const { index } of rows) {
    if (!keep.has(index)) await db.query(`DROP INDEX CONCURRENTLY IF EXISTS ${index}`).catch(() => {});
  }
}
