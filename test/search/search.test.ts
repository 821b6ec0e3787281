/**
 * Search on both databases: hybrid fusion where one ranker alone fails, filters that never starve
 * with an HNSW index present, tenant isolation, best chunk per document, and the TypeScript entry
 * point end to end.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/types.js';
import { createPgembed, type Pgembed } from '../../src/index.js';
import { enableDocumentChunking } from '../../src/pipelines/enable.js';
import { findPipeline } from '../../src/pipelines/pipeline.js';
import { hybridSearch, type SearchResult, searchByVector } from '../../src/search/search.js';
import { startWorker } from '../../src/worker/worker.js';
import { BACKENDS, hasPostgres, openBackend, type TestBackend } from '../support/databases.js';
import { CONCEPT_DIMENSIONS, conceptEmbedding, createConceptProvider } from './conceptProvider.js';

async function drain(db: Database, provider = createConceptProvider()) {
  const worker = await startWorker({ db, providerFor: () => provider, pollIntervalMs: 50, batchSize: 200 });
  try {
    await worker.drain({ timeoutMs: 120_000 });
  } finally {
    await worker.stop();
  }
}

const rankOf = (results: SearchResult[], id: number) => results.findIndex((r) => r.documentKey[0] === id) + 1;

describe.each(BACKENDS)('search on %s', (kind) => {
  let backend: TestBackend;
  let db: Database;

  beforeEach(async (context) => {
    if (kind === 'postgres' && !hasPostgres()) context.skip();
    backend = await openBackend(kind, 'search');
    db = backend.db;
  });
  afterEach(async () => backend?.cleanup());

  it('hybrid finds what each ranker alone misses: an exact identifier and a paraphrase', async () => {
    await db.exec(`CREATE TABLE articles (id int PRIMARY KEY, body text)`);
    const bodies = [
      'The reimbursement arrives on your card within 14 days.',
      'Error XJ-4471 means the standby lost its connection to the primary.',
      'Failure, fault, crash: an error report lists every error and every fault.',
      'Your vehicle is parked in the garage.',
      'Reset a password from the settings page.',
      'The delivery of a parcel takes three days.',
      'An invoice is sent by email each month.',
      'Sluggish pages usually mean high latency.',
    ];
    await db.query(`INSERT INTO articles SELECT i, b FROM unnest($1::text[]) WITH ORDINALITY AS t(b, i)`, [
      bodies,
    ]);
    await enableDocumentChunking(db, {
      table: 'articles',
      column: 'body',
      provider: 'hash',
      dimensions: CONCEPT_DIMENSIONS,
    });
    await drain(db);
    const pipeline = await findPipeline(db, { table: 'articles' });

    // [query, the document that answers it]
    const cases: [string, number][] = [
      ['how long until I get my money back', 1], // paraphrase: no word in common
      ['error XJ-4471', 2], // identifier: invisible to the embedder
    ];
    const ranks = {
      vector: [] as number[],
      text: [] as number[],
      hybrid: [] as number[],
      naive: [] as number[],
    };
    for (const [query, gold] of cases) {
      const vector = conceptEmbedding(query);
      ranks.vector.push(rankOf(await searchByVector(db, pipeline, vector, { k: 5 }), gold));
      ranks.text.push(rankOf(await hybridSearch(db, pipeline, query, null, { k: 5 }), gold));
      ranks.hybrid.push(rankOf(await hybridSearch(db, pipeline, query, vector, { k: 5 }), gold));
      ranks.naive.push(
        rankOf(await hybridSearch(db, pipeline, query, vector, { k: 5, hybrid: { textMatch: 'all' } }), gold),
      );
    }
    // Each single ranker fails one of the two…
    expect(ranks.vector[0]).toBe(1);
    expect(ranks.vector[1]).toBeGreaterThan(1);
    expect(ranks.text[0]).toBe(0);
    expect(ranks.text[1]).toBe(1);
    // …hybrid gets both right, so it beats or ties each of them on every query.
    expect(ranks.hybrid).toEqual([1, 1]);
    const mrr = (rs: number[]) => rs.reduce((sum, r) => sum + (r ? 1 / r : 0), 0) / rs.length;
    expect(mrr(ranks.hybrid)).toBeGreaterThanOrEqual(mrr(ranks.vector));
    expect(mrr(ranks.hybrid)).toBeGreaterThanOrEqual(mrr(ranks.text));
    expect(ranks.naive).toEqual([1, 1]);

    // Per-ranker ranks are reported, and the SQL function gives the same answer to SQL users.
    const [top] = await hybridSearch(db, pipeline, 'error XJ-4471', conceptEmbedding('error XJ-4471'), {
      k: 1,
    });
    expect(top).toMatchObject({ documentKey: [2], textRank: 1 });
    expect(top!.vectorRank).toBeGreaterThan(1);
    const { rows } = await db.query<{ document_key: number[]; text_rank: number }>(
      `SELECT document_key, text_rank FROM pgembed.hybrid_search('articles', 'error XJ-4471', $1::vector, k => 1)`,
      [`[${conceptEmbedding('error XJ-4471').join(',')}]`],
    );
    expect(rows).toEqual([{ document_key: [2], text_rank: 1 }]);

    // A query whose words never occur together still gets a full-text ranking (any-word fallback).
    const fallback = await hybridSearch(db, pipeline, 'parcel invoice zebra', null, { k: 5 });
    expect(fallback.map((r) => r.documentKey[0]).sort()).toEqual([6, 7]);
    expect(
      await hybridSearch(db, pipeline, 'parcel invoice zebra', null, { k: 5, hybrid: { textMatch: 'all' } }),
    ).toEqual([]);
  });

  it('a filter matching 1 % of the rows still returns k rows with the HNSW index in use', async () => {
    await db.exec(`CREATE TABLE items (id int PRIMARY KEY, category text NOT NULL, body text)`);
    await db.exec(
      `INSERT INTO items SELECT i, CASE WHEN i % 100 = 0 THEN 'rare' ELSE 'common' END, 'item number ' || i FROM generate_series(1, 1000) i`,
    );
    await enableDocumentChunking(db, { table: 'items', column: 'body', provider: 'hash', dimensions: 16 });
    const { createHashProvider } = await import('../../src/providers/hash.js');
    await drain(db, createHashProvider({ dimensions: 16 }) as ReturnType<typeof createConceptProvider>);
    await db.exec(`UPDATE items_chunks SET metadata = '{"tier": "gold"}' WHERE doc_id % 100 = 0`);
    await db.exec(`ANALYZE items; ANALYZE items_chunks`);
    const pipeline = await findPipeline(db, { table: 'items' });
    const query = Array.from({ length: 16 }, (_, i) => Math.sin(i + 1));
    const literal = `[${query.join(',')}]`;

    // The same filtered query without iterative scans starves: ef_search 10 candidates, 1 % match.
    const starved = await db.transaction(async (tx) => {
      await tx.exec(`SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off`);
      await tx.query(`SET LOCAL hnsw.ef_search = 10`);
      await tx.query(`SET LOCAL hnsw.iterative_scan = off`);
      const plan = await tx.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN SELECT c.id FROM items_chunks c JOIN items s ON s.id = c.doc_id
         WHERE s.category = 'rare' ORDER BY c.embedding <=> $1::vector LIMIT 10`,
        [literal],
      );
      expect(plan.rows.map((r) => r['QUERY PLAN']).join('\n')).toMatch(
        /Index Scan using items_chunks_embedding_idx/,
      );
      const { rows } = await tx.query(
        `SELECT c.id FROM items_chunks c JOIN items s ON s.id = c.doc_id
         WHERE s.category = 'rare' ORDER BY c.embedding <=> $1::vector LIMIT 10`,
        [literal],
      );
      return rows.length;
    });
    expect(starved).toBeLessThan(10);

    // pgembed's search, with the planner made to use the index the same way, returns all 10.
    for (const filter of [{ source: { category: 'rare' } }, { metadata: { tier: 'gold' } }]) {
      const results = await db.transaction(async (tx) => {
        await tx.exec(`SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off`);
        return searchByVector(tx, pipeline, query, { k: 10, filter, efSearch: 10 });
      });
      expect(results).toHaveLength(10);
      expect(results.every((r) => (r.documentKey[0] as number) % 100 === 0)).toBe(true);
      const distances = results.map((r) => r.distance!);
      expect(distances).toEqual([...distances].sort((a, b) => a - b));
      const hybrid = await db.transaction(async (tx) => {
        await tx.exec(`SET LOCAL enable_seqscan = off; SET LOCAL enable_sort = off`);
        return hybridSearch(tx, pipeline, 'item', query, { k: 10, filter, efSearch: 10 });
      });
      expect(hybrid).toHaveLength(10);
      expect(hybrid.every((r) => (r.documentKey[0] as number) % 100 === 0)).toBe(true);
    }
    // The search put its settings back: the session's own ef_search is untouched.
    const { rows } = await db.query<{ ef: string }>(`SELECT current_setting('hnsw.ef_search') AS ef`);
    expect(rows[0]!.ef).toBe('40');

    // Filters are values, never SQL.
    await expect(
      searchByVector(db, pipeline, query, { filter: { source: { 'category = category OR true --': 'x' } } }),
    ).rejects.toThrow(/has no column "category = category OR true --"/);
    expect(
      await searchByVector(db, pipeline, query, { filter: { source: { category: "rare' OR 'a'='a" } } }),
    ).toEqual([]);
    await expect(searchByVector(db, pipeline, query, { filter: { nope: 1 } as never })).rejects.toThrow(
      /unknown filter key "nope"/,
    );
  });

  it('a tenant never sees another tenant’s chunks', async () => {
    await db.exec(`CREATE TABLE tdocs (id int PRIMARY KEY, org text NOT NULL, body text)`);
    await db.exec(
      `INSERT INTO tdocs SELECT i, CASE WHEN i % 2 = 0 THEN 'acme' ELSE 'globex' END,
              (ARRAY['refund policy for cars', 'password reset error', 'shipping delays and invoices'])[1 + (i / 2) % 3]
       FROM generate_series(1, 60) i`,
    );
    await enableDocumentChunking(db, {
      table: 'tdocs',
      column: 'body',
      provider: 'hash',
      dimensions: CONCEPT_DIMENSIONS,
    });
    await drain(db);
    const pipeline = await findPipeline(db, { table: 'tdocs' });
    await expect(
      searchByVector(db, pipeline, conceptEmbedding('refund'), { tenant: 'acme' }),
    ).rejects.toThrow(/has no tenant column/);
    await db.query(`SELECT pgembed.configure_search('tdocs', '{"tenant_column": "org"}')`);
    await expect(searchByVector(db, pipeline, conceptEmbedding('refund'))).rejects.toThrow(/multi-tenant/);
    await expect(hybridSearch(db, pipeline, 'refund', null)).rejects.toThrow(/multi-tenant/);

    const { rows: orgs } = await db.query<{ id: number; org: string }>(`SELECT id, org FROM tdocs`);
    const orgOf = new Map(orgs.map((r) => [r.id, r.org]));
    for (const query of ['refund for my car', 'password error', 'shipping invoice', 'anything at all']) {
      const v = conceptEmbedding(query);
      for (const results of [
        await searchByVector(db, pipeline, v, { k: 50, tenant: 'acme' }),
        await searchByVector(db, pipeline, v, { k: 50, tenant: 'acme', groupByDocument: true }),
        await hybridSearch(db, pipeline, query, v, { k: 50, tenant: 'acme' }),
        await hybridSearch(db, pipeline, query, null, {
          k: 50,
          tenant: 'acme',
          hybrid: { textMatch: 'any' },
        }),
        await hybridSearch(db, pipeline, query, v, {
          k: 50,
          tenant: 'acme',
          filter: { source: { org: 'globex' } },
        }),
      ]) {
        expect(results.every((r) => orgOf.get(r.documentKey[0] as number) === 'acme')).toBe(true);
      }
    }
    expect(
      await searchByVector(db, pipeline, conceptEmbedding('refund'), { k: 50, tenant: 'acme' }),
    ).toHaveLength(30);
    expect(
      await searchByVector(db, pipeline, conceptEmbedding('refund'), { tenant: "acme' OR '1'='1" }),
    ).toEqual([]);
  });

  it('returns the parent section of each hit of a hierarchical pipeline, in one query', async () => {
    await db.exec(`CREATE TABLE manuals (id int PRIMARY KEY, body text)`);
    const manual = (n: number) =>
      `# Refunds ${n}\n\nA refund arrives on your card within 14 days. Money back is paid to the card you used.\n\n` +
      `# Passwords ${n}\n\nReset a password from the settings page. A password error means the reset link expired.\n`;
    await db.query(`INSERT INTO manuals SELECT i, $1 || i FROM generate_series(1, 3) i`, [manual(0)]);
    await db.query(
      `SELECT pgembed.enable_hierarchical_chunking('manuals', 'body',
         levels => '[{"strategy": "markdown", "chunk_size": 200}, {"strategy": "sentence", "chunk_size": 20, "chunk_overlap": 0}]',
         provider => 'hash', dimensions => ${CONCEPT_DIMENSIONS})`,
    );
    await drain(db);
    const pipeline = await findPipeline(db, { table: 'manuals' });
    const v = conceptEmbedding('refund money back');
    for (const results of [
      await searchByVector(db, pipeline, v, { k: 6, parents: true }),
      await hybridSearch(db, pipeline, 'refund', v, { k: 6, parents: true, groupByDocument: true }),
    ]) {
      expect(results.length).toBeGreaterThan(0);
      for (const hit of results) {
        const { rows } = await db.query<Record<string, unknown>>(
          `SELECT section_index, content, start_char, end_char, heading_path, token_count FROM pgembed.chunk_parent('manuals', $1)`,
          [hit.chunkId],
        );
        const section = rows[0]!;
        expect(hit.parent).toEqual({
          sectionIndex: section.section_index,
          content: section.content,
          startChar: section.start_char,
          endChar: section.end_char,
          headingPath: section.heading_path,
          tokenCount: section.token_count,
        });
        expect(hit.startChar).toBeGreaterThanOrEqual(hit.parent!.startChar);
        expect(hit.endChar).toBeLessThanOrEqual(hit.parent!.endChar);
        expect(hit.parent!.content).toContain(hit.content);
      }
    }
    expect((await searchByVector(db, pipeline, v, { k: 2 }))[0]).not.toHaveProperty('parent');
    await expect(db.query(`SELECT * FROM pgembed.chunk_parents('nope', ARRAY[1::bigint])`)).rejects.toThrow(
      'pgembed: pipeline "nope" does not exist',
    );
    await expect(searchByVector(db, pipeline, v, { parents: 'yes' as unknown as boolean })).rejects.toThrow(
      'parents must be true or false (got yes)',
    );
    // Other pipelines have no sections: parent is null.
    await db.exec(`CREATE TABLE plain (id int PRIMARY KEY, body text)`);
    await db.exec(`INSERT INTO plain VALUES (1, 'refund money back')`);
    await enableDocumentChunking(db, {
      table: 'plain',
      column: 'body',
      provider: 'hash',
      dimensions: CONCEPT_DIMENSIONS,
    });
    await drain(db);
    const plain = await searchByVector(db, await findPipeline(db, { table: 'plain' }), v, { parents: true });
    expect(plain.map((r) => r.parent)).toEqual([null]);
  });

  it('returns the best chunk of each document with --group-by-document', async () => {
    await db.exec(`CREATE TABLE longdocs (id int PRIMARY KEY, body text)`);
    await db.exec(
      `INSERT INTO longdocs SELECT i, repeat('refund money car vehicle password error replica invoice delivery ', 12 + i)
       FROM generate_series(1, 12) i`,
    );
    await enableDocumentChunking(db, {
      table: 'longdocs',
      column: 'body',
      provider: 'hash',
      dimensions: CONCEPT_DIMENSIONS,
      chunkSize: 20,
      chunkOverlap: 0,
      // Indexes live from the start (this backfill's ~180 expected chunks would defer them): every
      // chunk here is the same phrase, so the nearest 10 tie, and which of them come first is the
      // order the HNSW graph was built in.
      deferIndexRows: 1_000_000,
    });
    await drain(db);
    const pipeline = await findPipeline(db, { table: 'longdocs' });
    const v = conceptEmbedding('refund');
    const chunks = await searchByVector(db, pipeline, v, { k: 10 });
    expect(new Set(chunks.map((r) => r.documentKey[0])).size).toBeLessThan(10);
    for (const results of [
      await searchByVector(db, pipeline, v, { k: 10, groupByDocument: true }),
      await hybridSearch(db, pipeline, 'refund', v, { k: 10, groupByDocument: true }),
    ]) {
      expect(results).toHaveLength(10);
      expect(new Set(results.map((r) => r.documentKey[0])).size).toBe(10);
    }
  });
});

describe('search() on the embedded database, end to end', () => {
  let pg: Pgembed;

  beforeEach(async () => {
    pg = await createPgembed({ dataDir: 'memory://' });
    await pg.db.exec(`CREATE TABLE notes (id int PRIMARY KEY, body text)`);
    await pg.db.query(
      `INSERT INTO notes VALUES (1, 'alpha beta gamma'), (2, 'delta epsilon'), (3, 'zeta eta theta'), (4, NULL)`,
    );
    await pg.enable({ table: 'notes', column: 'body', provider: 'hash', dimensions: 32 });
    const worker = await pg.startWorker({ pollIntervalMs: 50 });
    await worker.drain();
    await worker.stop();
  });
  afterEach(async () => pg?.close());

  it('embeds the query with the pipeline’s provider and ranks the exact text first, hybrid by default', async () => {
    const results = await pg.search('delta epsilon', { table: 'notes', k: 2 });
    expect(results).toHaveLength(2);
    expect(results[0]).toMatchObject({
      documentKey: [2],
      chunkIndex: 0,
      content: 'delta epsilon',
      startChar: 0,
      endChar: 13,
      vectorRank: 1,
      textRank: 1,
    });
    expect(results[0]!.similarity).toBeCloseTo(1, 5);
    expect(results[1]!.score).toBeLessThan(results[0]!.score);
    const vectorOnly = await pg.search('delta epsilon', { table: 'notes', k: 2, hybrid: false });
    expect(vectorOnly[0]!.score).toBeCloseTo(1, 5);
    expect(vectorOnly[0]).not.toHaveProperty('textRank');
  });

  it('validates its input with messages that say what to do', async () => {
    await expect(pg.search('', { table: 'notes' })).rejects.toThrow(/non-empty string/);
    await expect(pg.search('x', { table: 'notes', k: 0 })).rejects.toThrow(
      /k must be an integer between 1 and 1000/,
    );
    await expect(pg.search('x', { table: 'notes', efSearch: 5000 })).rejects.toThrow(
      /efSearch must be an integer/,
    );
    await expect(pg.search('x', { table: 'nope' })).rejects.toThrow(/no pipeline reads table "nope"/);
    await expect(pg.search('x', { pipeline: 'nope' })).rejects.toThrow(/no pipeline named "nope"/);
    await expect(pg.search('x', {})).rejects.toThrow(/give a pipeline name or a table/);
    await expect(pg.search('x', { table: 'notes', hybrid: { textMatch: 'some' as never } })).rejects.toThrow(
      /text_match must be auto, all or any/,
    );
  });

  it('filters by minimum similarity', async () => {
    for (const hybrid of [true, false]) {
      const results = await pg.search('alpha beta gamma', { table: 'notes', k: 3, minScore: 0.99, hybrid });
      expect(results.map((r) => r.documentKey)).toEqual([[1]]);
    }
  });
});
