/**
 * Index management and the recall monitor, on both databases: rebuilds (CONCURRENTLY on the
 * server), IVFFlat on request with lists from the row count, HNSW parameters, halfvec beyond 2,000
 * dimensions, and recall@k measured against exact search, tuned and stored.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/types.js';
import { enableDocumentChunking } from '../../src/pipelines/enable.js';
import { findPipeline } from '../../src/pipelines/pipeline.js';
import { createHashProvider, hashEmbedding } from '../../src/providers/hash.js';
import { reindex } from '../../src/search/indexes.js';
import { measureRecall, tuneEfSearch } from '../../src/search/recall.js';
import { searchByVector } from '../../src/search/search.js';
import { startWorker } from '../../src/worker/worker.js';
import { BACKENDS, hasPostgres, openBackend, type TestBackend } from '../support/databases.js';

async function corpus(db: Database, rows: number, dimensions: number, model?: string) {
  await db.exec(`CREATE TABLE docs (id int PRIMARY KEY, body text)`);
  await db.query(
    `INSERT INTO docs SELECT i, 'document ' || i || ' of ' || $1::int FROM generate_series(1, $1::int) i`,
    [rows],
  );
  // hash-v1 is declared with 768 dimensions at most; a model name pgembed does not know takes any.
  await enableDocumentChunking(db, {
    table: 'docs',
    column: 'body',
    provider: 'hash',
    dimensions,
    ...(model ? { model } : {}),
  });
  const provider = createHashProvider({ dimensions });
  const worker = await startWorker({ db, providerFor: () => provider, pollIntervalMs: 50, batchSize: 500 });
  await worker.drain({ timeoutMs: 120_000 });
  await worker.stop();
}

async function vectorIndexDefs(db: Database): Promise<string[]> {
  const { rows } = await db.query<{ indexdef: string }>(
    `SELECT indexdef FROM pg_indexes WHERE tablename = 'docs_chunks' AND indexdef ~ '(hnsw|ivfflat)' ORDER BY 1`,
  );
  return rows.map((r) => r.indexdef);
}

describe.each(BACKENDS)('indexes and recall on %s', (kind) => {
  let backend: TestBackend;
  let db: Database;

  beforeEach(async (context) => {
    if (kind === 'postgres' && !hasPostgres()) context.skip();
    backend = await openBackend(kind, 'indexes');
    db = backend.db;
  });
  afterEach(async () => backend?.cleanup());

  it('measures recall against exact search, tunes ef_search and stores it for searches', async () => {
    await corpus(db, 800, 24);
    const report = await measureRecall(db, 'docs', { sample: 40, k: 10, efSearch: 10 });
    expect(report).toMatchObject({
      pipeline: 'docs',
      chunks: 800,
      sample: 40,
      k: 10,
      efSearch: 10,
      indexType: 'hnsw',
    });
    expect(report.recall).toBeGreaterThan(0);
    expect(report.recall).toBeLessThanOrEqual(1);
    expect(report.minRecall).toBeLessThanOrEqual(report.recall);
    expect(report.indexLatency.p50Ms).toBeGreaterThan(0);
    expect(report.exactLatency.p99Ms).toBeGreaterThanOrEqual(report.exactLatency.p50Ms);

    const tuned = await tuneEfSearch(db, 'docs', { sample: 40, k: 10, target: 0.99 });
    expect(tuned.reached).toBe(true);
    expect(tuned.stored).toBe(true);
    const step = tuned.steps.find((s) => s.efSearch === tuned.efSearch)!;
    expect(step.recall).toBeGreaterThanOrEqual(0.99);
    // Every smaller ef_search that was measured fell short: it is the smallest on the ladder.
    for (const s of tuned.steps) if (s.efSearch! < tuned.efSearch!) expect(s.recall).toBeLessThan(0.99);
    const { rows } = await db.query<{ ef: number }>(
      `SELECT (search_options->>'ef_search')::int AS ef FROM pgembed.pipelines WHERE name = 'docs'`,
    );
    expect(rows[0]!.ef).toBe(tuned.efSearch);
    // The search path now uses it: measuring without an override reports and reaches it.
    const after = await measureRecall(db, 'docs', { sample: 40, k: 10 });
    expect(after.efSearch).toBe(tuned.efSearch);
    expect(after.recall).toBeGreaterThanOrEqual(0.99);

    await expect(tuneEfSearch(db, 'docs', { target: 1.5 })).rejects.toThrow(/target must be a recall/);
    await expect(measureRecall(db, 'docs', { sample: 0 })).rejects.toThrow(/sample must be an integer/);
  });

  it('rebuilds indexes, switches to IVFFlat with lists from the row count, and back to HNSW with new parameters', async () => {
    await corpus(db, 300, 16);
    const pipeline = await findPipeline(db, { pipeline: 'docs' });
    const query = hashEmbedding('document 7 of 300', 16, 'hash-v1');

    const plain = await reindex(db, 'docs');
    expect(plain.concurrently).toBe(kind === 'postgres');
    expect(plain.statements).toHaveLength(2); // vector + full-text
    for (const sql of plain.statements) {
      expect(sql).toMatch(kind === 'postgres' ? /^REINDEX INDEX CONCURRENTLY / : /^REINDEX INDEX /);
    }

    const ivf = await reindex(db, 'docs', { indexType: 'ivfflat' });
    expect(ivf.indexType).toBe('ivfflat');
    expect(await vectorIndexDefs(db)).toEqual([
      expect.stringMatching(/USING ivfflat \(embedding vector_cosine_ops\) WITH \(lists='1'\)/),
    ]);
    const { rows: opts } = await db.query<{ search_options: Record<string, number> }>(
      `SELECT search_options FROM pgembed.pipelines WHERE name = 'docs'`,
    );
    expect(opts[0]!.search_options).toMatchObject({ lists: 1, probes: 1 });
    expect((await searchByVector(db, pipeline, query, { k: 3 }))[0]!.documentKey).toEqual([7]);
    expect((await measureRecall(db, 'docs', { sample: 10 })).efSearch).toBeNull();
    await expect(tuneEfSearch(db, 'docs', { sample: 10 })).rejects.toThrow(/ivfflat index/);

    const hnsw = await reindex(db, 'docs', { indexType: 'hnsw', m: 8, efConstruction: 32 });
    expect(hnsw.indexType).toBe('hnsw');
    const defs = await vectorIndexDefs(db);
    expect(defs).toEqual([
      expect.stringMatching(
        /USING hnsw \(embedding vector_cosine_ops\) WITH \(m='8', ef_construction='32'\)/,
      ),
    ]);
    expect((await searchByVector(db, pipeline, query, { k: 3 }))[0]!.documentKey).toEqual([7]);

    // The SQL API does the same inside a transaction, and validates its arguments.
    const { rows } = await db.query<{ r: { index_type: string; lists: number } }>(
      `SELECT pgembed.create_vector_index('docs', 'ivfflat', lists => 3) AS r`,
    );
    expect(rows[0]!.r).toMatchObject({ index_type: 'ivfflat', lists: 3 });
    await expect(db.query(`SELECT pgembed.create_vector_index('docs', 'hnsw', m => 1)`)).rejects.toThrow(
      /m must be between 2 and 100/,
    );
    await expect(reindex(db, 'nope')).rejects.toThrow(/no pipeline named "nope"/);
  });

  it('indexes and searches embeddings beyond 2,000 dimensions as halfvec', async () => {
    await corpus(db, 20, 2048, 'hash-wide');
    expect(await vectorIndexDefs(db)).toEqual([
      expect.stringMatching(/USING hnsw \(\(\(embedding\)::halfvec\(2048\)\) halfvec_cosine_ops\)/),
    ]);
    const pipeline = await findPipeline(db, { pipeline: 'docs' });
    const results = await searchByVector(db, pipeline, hashEmbedding('document 5 of 20', 2048, 'hash-v1'), {
      k: 2,
    });
    expect(results[0]!.documentKey).toEqual([5]);
    expect(results[0]!.similarity).toBeCloseTo(1, 2);
    const rebuilt = await reindex(db, 'docs', { m: 12 });
    expect(rebuilt.statements.at(-2)).toMatch(/halfvec\(2048\)\) halfvec_cosine_ops\) WITH \(m = 12/);
  });
});
