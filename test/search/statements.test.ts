/**
 * The server path of the TypeScript search API (src/search/statements.ts): cached statements on
 * private connections must return exactly what pgembed.search / pgembed.hybrid_search return, follow
 * the pipeline when it is reconfigured, and leave the application's own connections alone.
 * PostgreSQL only (PGlite always calls the SQL functions).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Database, Queryable } from '../../src/db/types.js';
import { enableDocumentChunking } from '../../src/pipelines/enable.js';
import { findPipeline, type Pipeline } from '../../src/pipelines/pipeline.js';
import { hybridSearch, type SearchOptions, searchByVector } from '../../src/search/search.js';
import { startWorker } from '../../src/worker/worker.js';
import { hasPostgres, openBackend, type TestBackend } from '../support/databases.js';
import { CONCEPT_DIMENSIONS, conceptEmbedding, createConceptProvider } from './conceptProvider.js';

describe('search statements on postgres', () => {
  let backend: TestBackend;
  let db: Database;
  /** The same database without the private search connections: every search calls the SQL functions. */
  let functions: Queryable;
  let pipeline: Pipeline;

  beforeEach(async (context) => {
    if (!hasPostgres()) context.skip();
    backend = await openBackend('postgres', 'statements');
    db = backend.db;
    functions = { query: (text, params) => db.query(text, params) };
    await db.exec(
      `CREATE TABLE tickets (id int PRIMARY KEY, org text NOT NULL, category text NOT NULL, body text)`,
    );
    // Every text ends with a word of its own (letters only: the concept embedder ignores words with
    // digits), so no two chunks have the same vector: with exact ties, which of them fill an HNSW
    // window is not fixed.
    await db.exec(
      `INSERT INTO tickets SELECT i, CASE WHEN i % 3 = 0 THEN 'acme' ELSE 'globex' END,
              (ARRAY['billing', 'faq', 'bug'])[1 + i % 3],
              (ARRAY['refund for my car', 'password reset error', 'shipping delays and invoices',
                     'slow replica after a crash', 'money back for a truck'])[1 + i % 5] || ' ' || translate(md5(i::text), '0123456789', 'ghijklmnop')
       FROM generate_series(1, 300) i`,
    );
    await enableDocumentChunking(db, {
      table: 'tickets',
      column: 'body',
      provider: 'hash',
      dimensions: CONCEPT_DIMENSIONS,
    });
    const worker = await startWorker({ db, providerFor: () => createConceptProvider(), pollIntervalMs: 50 });
    try {
      await worker.drain({ timeoutMs: 120_000 });
    } finally {
      await worker.stop();
    }
    await db.exec(
      `UPDATE tickets_chunks SET metadata = jsonb_build_object('tier', CASE WHEN doc_id % 7 = 0 THEN 'gold' ELSE 'std' END)`,
    );
    await db.exec(`ANALYZE tickets; ANALYZE tickets_chunks`);
    pipeline = await findPipeline(db, { table: 'tickets' });
  });
  afterEach(async () => backend?.cleanup());

  const OPTIONS: Omit<SearchOptions, 'pipeline' | 'table' | 'hybrid'>[] = [
    { k: 5 },
    { k: 20, minScore: 0.5 },
    { k: 10, efSearch: 10 },
    { k: 10, filter: { source: { category: 'faq' } } },
    { k: 10, filter: { source: { category: ['faq', 'bug'], org: 'acme' } } },
    { k: 10, filter: { metadata: { tier: 'gold' } } },
    { k: 10, filter: { metadata: { tier: 'gold' }, source: { category: 'billing' } }, minScore: 0.2 },
    { k: 7, filter: {} },
  ];
  const QUERIES = ['refund for my car', 'password error', 'invoice 42', 'the a of'];

  async function expectSameAsFunctions(options: Omit<SearchOptions, 'pipeline' | 'table' | 'hybrid'>) {
    for (const text of QUERIES) {
      const v = conceptEmbedding(text);
      expect(await searchByVector(db, pipeline, v, options)).toEqual(
        await searchByVector(functions, pipeline, v, options),
      );
      for (const textMatch of ['auto', 'all', 'any'] as const) {
        for (const [t, vector] of [
          [text, v],
          [text, null],
          [null, v],
        ] as const) {
          if (t === null && textMatch !== 'auto') continue;
          const hybrid = { ...options, hybrid: { textMatch, rrfK: 10, fallbackWeight: 0.5 } };
          expect(await hybridSearch(db, pipeline, t, vector, hybrid)).toEqual(
            await hybridSearch(functions, pipeline, t, vector, hybrid),
          );
        }
      }
    }
  }

  it('returns exactly what the SQL functions return, for every option shape', async () => {
    for (const options of OPTIONS) await expectSameAsFunctions(options);
    // IVFFlat, with the probes the index build recorded.
    await db.query(`SELECT pgembed.create_vector_index('tickets', 'ivfflat', lists => 4)`);
    for (const options of OPTIONS.slice(0, 4)) await expectSameAsFunctions(options);
  });

  it('follows the pipeline when it is reconfigured, and leaves other connections alone', async () => {
    const v = conceptEmbedding('refund');
    await searchByVector(db, pipeline, v, { k: 5 });
    await hybridSearch(db, pipeline, 'refund', v, { k: 5 });
    // A tuned ef_search reaches the statement's session settings.
    await db.query(`SELECT pgembed.configure_search('tickets', '{"ef_search": 11, "max_scan_tuples": 500}')`);
    await expectSameAsFunctions({ k: 10, filter: { source: { category: 'faq' } } });
    // Becoming multi-tenant: statements built before now must not run without a tenant.
    await db.query(`SELECT pgembed.configure_search('tickets', '{"tenant_column": "org"}')`);
    await expect(searchByVector(db, pipeline, v, { k: 5 })).rejects.toThrow(/multi-tenant/);
    await expect(hybridSearch(db, pipeline, 'refund', v, { k: 5 })).rejects.toThrow(/multi-tenant/);
    const acme = await searchByVector(db, pipeline, v, { k: 100, tenant: 'acme' });
    expect(acme).toHaveLength(100);
    expect(acme.every((r) => (r.documentKey[0] as number) % 3 === 0)).toBe(true);
    await expectSameAsFunctions({ k: 10, tenant: 'acme' });
    // The application's own queries never see the search sessions' settings.
    const { rows } = await db.query<{ mode: string; scan: string; ef: string }>(
      `SELECT current_setting('plan_cache_mode') AS mode, current_setting('hnsw.iterative_scan') AS scan,
              current_setting('hnsw.ef_search') AS ef`,
    );
    expect(rows[0]).toEqual({ mode: 'auto', scan: 'off', ef: '40' });
    // A dropped pipeline is an error, not a search of a table that is gone.
    await db.query(`SELECT pgembed.drop_pipeline('tickets', drop_chunks => true)`);
    await expect(searchByVector(db, pipeline, v, { k: 5, tenant: 'acme' })).rejects.toThrow(/does not exist/);
  });
});
