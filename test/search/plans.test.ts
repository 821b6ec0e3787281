/**
 * The plans of pgembed's search statements (migration 0012): unfiltered searches use the HNSW index
 * by name once the chunk table is analysed, on both paths (the TypeScript API's prepared statements
 * and the SQL functions); full-text ranking reads the stored content_tsv and at most 10 × its window of matching
 * chunks; existing chunk tables get the column when pgembed is upgraded. Plans and row counts, not
 * timings (bench/search.ts measures those).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { loadMigrations, migrate } from '../../src/db/migrate.js';
import type { Database } from '../../src/db/types.js';
import { enableDocumentChunking } from '../../src/pipelines/enable.js';
import { findPipeline } from '../../src/pipelines/pipeline.js';
import { hybridSearch, searchByVector } from '../../src/search/search.js';
import { BACKENDS, hasPostgres, openBackend, type TestBackend } from '../support/databases.js';

const DIMS = 768;
/** A few thousand chunks: where an analysed chunk table made PostgreSQL prefer Seq Scan + Sort. */
const CHUNKS = 3_000;
/** Every chunk has "table", every 100th "zyzzyva"; chunk 1,234 has a passage of its own. */
const PASSAGE = Array.from(
  { length: 120 },
  (_, i) => `passage${String.fromCharCode(97 + (i % 26))}${i}x`,
).join(' ');

/**
 * A pipeline on `docs` whose chunk table holds `chunks` rows of `dims` random dimensions, written
 * directly (this is about search), with its indexes built afterwards and the table analysed.
 */
async function loadCorpus(db: Database, chunks: number, dims: number): Promise<void> {
  await db.exec(`CREATE TABLE docs (id int PRIMARY KEY, body text NOT NULL)`);
  await db.exec(`INSERT INTO docs SELECT i, 'document ' || i FROM generate_series(1, ${chunks}) i`);
  await enableDocumentChunking(db, {
    table: 'docs',
    column: 'body',
    provider: 'hash',
    dimensions: dims,
    backfill: false,
  });
  await db.exec(`DROP INDEX ${await vectorIndex(db)}`);
  await db.exec(`SELECT setseed(0.5)`);
  await db.exec(
    `INSERT INTO docs_chunks (doc_id, chunk_index, content, token_count, start_char, end_char, embedding, model, content_hash)
     SELECT i, 0, content, 40, 0, length(content),
            (SELECT array_agg(random() - 0.5) FROM generate_series(1, ${dims}) WHERE i > 0)::vector, 'hash-v1', md5(content)
     FROM (SELECT i, CASE WHEN i = 1234 THEN '${PASSAGE}'
                          ELSE 'the table of chunk ' || md5(i::text) || ' holds rows and columns'
                               || CASE WHEN i % 100 = 0 THEN ' zyzzyva' ELSE '' END END AS content
           FROM generate_series(1, ${chunks}) i) t`,
  );
  await db.query(`SELECT pgembed.create_vector_index('docs', 'hnsw')`);
  await db.exec(`ANALYZE docs_chunks`);
}

async function vectorIndex(db: Database): Promise<string> {
  const { rows } = await db.query<{ index: string }>(
    `SELECT pgembed._vector_indexes('docs_chunks'::regclass)::text AS index`,
  );
  return rows[0]!.index;
}

async function someVector(db: Database): Promise<number[]> {
  const { rows } = await db.query<{ v: string }>(
    `SELECT embedding::text AS v FROM docs_chunks WHERE doc_id = 77`,
  );
  return JSON.parse(rows[0]!.v) as number[];
}

/**
 * The plan of the statement the TypeScript API prepares for an unfiltered search of `kind`, run
 * with the session settings it is run with (src/search/statements.ts).
 */
async function statementPlan(
  db: Database,
  kind: 'vector' | 'hybrid',
  values: unknown[],
  analyze = false,
): Promise<string> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<{ statement: string; settings: Record<string, string | null> }>(
      `SELECT statement, settings FROM pgembed._search_statement('docs', $1::text, NULL, NULL, $2::text)`,
      [kind, kind === 'hybrid' ? 'auto' : null],
    );
    const { statement, settings } = rows[0]!;
    for (const [name, value] of Object.entries({ ...settings, plan_cache_mode: 'force_custom_plan' })) {
      if (value !== null) await tx.query(`SELECT set_config($1::text, $2::text, true)`, [name, value]);
    }
    const plan = await tx.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN (COSTS OFF${analyze ? ', ANALYZE, TIMING OFF' : ''}) ${statement}`,
      values,
    );
    return plan.rows.map((row) => row['QUERY PLAN']).join('\n');
  });
}

const hybridValues = (vector: number[] | null, text: string) => [
  vector === null ? null : `[${vector.join(',')}]`,
  40,
  null,
  null,
  null,
  text,
  'auto',
  20,
  1,
  1,
  null,
  10,
  0.25,
];

describe('search plans on postgres', () => {
  let backend: TestBackend;
  afterEach(async () => backend?.cleanup());

  it('unfiltered searches use the HNSW index by name once the chunk table is analysed, on both paths', async (context) => {
    if (!hasPostgres()) context.skip();
    backend = await openBackend('postgres', 'search_plans');
    const { db } = backend;
    await loadCorpus(db, CHUNKS, DIMS);
    const index = await vectorIndex(db);
    const vector = await someVector(db);
    const literal = `[${vector.join(',')}]`;

    // The TypeScript API's statements, with their session settings.
    for (const plan of [
      await statementPlan(db, 'vector', [literal, 10, null, null, null, null]),
      await statementPlan(db, 'hybrid', hybridValues(vector, 'rows and columns')),
    ]) {
      expect(plan).toContain(`Index Scan using ${index} on docs_chunks`);
      expect(plan).not.toMatch(/Seq Scan on docs_chunks/);
    }

    // The SQL functions: this transaction's scans of the index and of the table, by the statistics
    // collector's per-transaction counters.
    for (const call of [
      `SELECT count(*) FROM pgembed.search('docs', $1::vector, k => 10)`,
      `SELECT count(*) FROM pgembed.hybrid_search('docs', 'rows and columns', $1::vector, k => 10)`,
    ]) {
      const scans = await db.transaction(async (tx) => {
        await tx.query(call, [literal]);
        const { rows } = await tx.query<{ index_scans: number; table_scans: number }>(
          `SELECT pg_stat_get_xact_numscans($1::regclass)::int AS index_scans,
                  pg_stat_get_xact_numscans('docs_chunks'::regclass)::int AS table_scans`,
          [index],
        );
        return rows[0]!;
      });
      expect(scans.index_scans).toBeGreaterThan(0);
      expect(scans.table_scans).toBe(0);
    }
    // The user's own setting is back after the function (SET LOCAL, restored).
    const seqscan = await db.transaction(async (tx) => {
      await tx.query(`SELECT count(*) FROM pgembed.search('docs', $1::vector)`, [literal]);
      return (await tx.query<{ s: string }>(`SELECT current_setting('enable_seqscan') AS s`)).rows[0]!.s;
    });
    expect(seqscan).toBe('on');

    // Both paths still agree.
    const pipeline = await findPipeline(db, { table: 'docs' });
    const viaStatement = await searchByVector(db, pipeline, vector, { k: 10 });
    const viaFunction = await searchByVector({ query: (t, p) => db.query(t, p) }, pipeline, vector, {
      k: 10,
    });
    expect(viaStatement.map((r) => r.chunkId)).toEqual(viaFunction.map((r) => r.chunkId));
    expect(viaStatement[0]!.documentKey).toEqual([77]);
  });

  it('full-text ranking reads the stored tsvector and at most 10 × its window (400) of matching chunks', async (context) => {
    if (!hasPostgres()) context.skip();
    backend = await openBackend('postgres', 'search_text_plans');
    const { db } = backend;
    await loadCorpus(db, CHUNKS, 8);
    const vector = await someVector(db);

    // A keyword every chunk has (all words match 3,000 chunks), and a question whose words are not
    // all in any chunk (the any-word fallback), with and without a vector.
    for (const [text, v] of [
      ['table', vector],
      ['which table mentions zyzzyva', vector],
      ['which table mentions zyzzyva', null],
    ] as const) {
      const plan = await statementPlan(db, 'hybrid', hybridValues(v, text), true);
      expect(plan).not.toContain('to_tsvector');
      const scanned = [...plan.matchAll(/Bitmap Heap Scan on docs_chunks[^\n]*actual rows=(\d+)/g)].map((m) =>
        Number(m[1]),
      );
      expect(scanned.length).toBeGreaterThan(0);
      for (const rows of scanned) expect(rows).toBeLessThanOrEqual(400);
    }

    const pipeline = await findPipeline(db, { table: 'docs' });
    // The fallback ORs the rare words only ("tabl" is in every chunk), so the chunks with
    // "zyzzyva" are the text ranking; all three words rank them.
    const { rows: fallback } = await db.query<{ any_q: string; rank_q: string }>(
      `SELECT any_q::text, rank_q::text FROM pgembed._any_word_queries('docs_chunks', 'english', 'which table mentions zyzzyva', 'auto')`,
    );
    expect(fallback[0]!.any_q).toContain("'zyzzyva'");
    expect(fallback[0]!.any_q).not.toContain("'tabl'");
    expect(fallback[0]!.rank_q.split(' | ').sort()).toEqual(["'mention'", "'tabl'", "'zyzzyva'"]);
    const hits = await hybridSearch(db, pipeline, 'which table mentions zyzzyva', null, { k: 30 });
    expect(hits).toHaveLength(30);
    for (const hit of hits) expect(hit.content).toContain('zyzzyva');

    // Pasted text: 120 distinct words, one chunk's; its 16 rarest must all occur, and they find it.
    const { rows: all } = await db.query<{ terms: number }>(
      `SELECT (numnode(all_q) + 1) / 2 AS terms FROM pgembed._all_words_query('docs_chunks', 'english', $1::text, 'auto')`,
      [PASSAGE],
    );
    expect(all[0]!.terms).toBe(16);
    const pasted = await hybridSearch(db, pipeline, PASSAGE, vector, { k: 10 });
    expect(pasted.find((hit) => hit.textRank === 1)?.documentKey).toEqual([1234]);
  });

  it('an upgrade gives existing chunk tables the stored tsvector and its GIN index', async (context) => {
    if (!hasPostgres()) context.skip();
    const upTo = (id: number) => loadMigrations().filter((m) => m.id <= id);
    backend = await openBackend('postgres', 'search_upgrade');
    const { db } = backend;
    // The schema as 0011 left it, with a live pipeline and chunks.
    await db.exec(`DROP SCHEMA pgembed CASCADE`);
    await db.exec(`CREATE SCHEMA pgembed;
      CREATE TABLE pgembed.migrations (id int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    for (const migration of upTo(11)) {
      await db.transaction(async (tx) => {
        await tx.query(`INSERT INTO pgembed.migrations (id, name) VALUES ($1, $2)`, [
          migration.id,
          migration.name,
        ]);
        await tx.exec(migration.sql);
      });
    }
    await db.exec(`CREATE TABLE docs (id int PRIMARY KEY, body text NOT NULL)`);
    await enableDocumentChunking(db, {
      table: 'docs',
      column: 'body',
      provider: 'hash',
      dimensions: 8,
      backfill: false,
    });
    await db.exec(
      `INSERT INTO docs_chunks (doc_id, chunk_index, content, token_count, start_char, end_char, embedding, model, content_hash)
       SELECT i, 0, 'chunk ' || i || CASE WHEN i = 7 THEN ' about vacuuming' ELSE '' END, 3, 0, 10, '[1,0,0,0,0,0,0,1]', 'hash-v1', md5(i::text)
       FROM generate_series(1, 50) i`,
    );
    const before = await db.query(`SELECT chunk_id FROM pgembed.hybrid_search('docs', 'vacuum', NULL)`);
    expect(before.rows).toEqual([{ chunk_id: expect.anything() }]);

    expect(await migrate(db)).toEqual(
      loadMigrations()
        .filter((m) => m.id > 11)
        .map((m) => m.id),
    );
    const { rows: indexes } = await db.query<{ def: string }>(
      `SELECT pg_get_indexdef(indexrelid) AS def FROM pg_index WHERE indrelid = 'docs_chunks'::regclass ORDER BY 1`,
    );
    expect(
      indexes.filter((i) => /USING gin/.test(i.def)).map((i) => i.def.replace(/.* USING/, 'USING')),
    ).toEqual(['USING gin (content_tsv)']);
    expect(indexes.some((i) => /USING hnsw/.test(i.def))).toBe(true);
    const after = await db.query(`SELECT chunk_id FROM pgembed.hybrid_search('docs', 'vacuum', NULL)`);
    expect(after.rows).toEqual(before.rows);
    // New chunks get their tsvector from PostgreSQL (the worker writes no new column).
    await db.exec(
      `INSERT INTO docs_chunks (doc_id, chunk_index, content, token_count, start_char, end_char, embedding, model, content_hash)
       VALUES (7, 1, 'more vacuum', 2, 11, 22, '[1,0,0,0,0,0,0,1]', 'hash-v1', 'x')`,
    );
    const { rows: found } = await db.query(
      `SELECT chunk_index FROM pgembed.hybrid_search('docs', 'vacuum', NULL) ORDER BY 1`,
    );
    expect(found).toEqual([{ chunk_index: 0 }, { chunk_index: 1 }]);
  });
});

describe.each(BACKENDS)('stored tsvector on %s', (kind) => {
  let backend: TestBackend;
  afterEach(async () => backend?.cleanup());

  it('new chunk tables have it, live and deferred, and full-text search uses it', async (context) => {
    if (kind === 'postgres' && !hasPostgres()) context.skip();
    backend = await openBackend(kind, 'search_tsv');
    const { db } = backend;
    await db.exec(`CREATE TABLE live (id int PRIMARY KEY, body text NOT NULL);
                   CREATE TABLE later (id int PRIMARY KEY, body text NOT NULL);
                   INSERT INTO later VALUES (1, 'a deferred document')`);
    await enableDocumentChunking(db, { table: 'live', column: 'body', provider: 'hash', dimensions: 8 });
    await enableDocumentChunking(db, {
      table: 'later',
      column: 'body',
      provider: 'hash',
      dimensions: 8,
      deferIndexRows: 1,
    });
    const { rows } = await db.query<{ t: string; gin: string[] }>(
      `SELECT c.relname AS t, ARRAY(SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                                     JOIN pg_am am ON am.oid = ic.relam WHERE i.indrelid = c.oid AND am.amname = 'gin') AS gin
       FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'content_tsv'
       WHERE c.relname IN ('live_chunks', 'later_chunks') ORDER BY 1`,
    );
    expect(rows.map((r) => r.t)).toEqual(['later_chunks', 'live_chunks']);
    expect(rows[0]!.gin).toEqual([]);
    expect(rows[1]!.gin.map((d) => d.replace(/.* USING/, 'USING'))).toEqual(['USING gin (content_tsv)']);
    // The deferred build indexes the column too.
    await db.query(`SELECT pgembed._create_indexes('later')`);
    const { rows: built } = await db.query<{ def: string }>(
      `SELECT pg_get_indexdef(indexrelid) AS def FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
       JOIN pg_am am ON am.oid = ic.relam WHERE i.indrelid = 'later_chunks'::regclass AND am.amname = 'gin'`,
    );
    expect(built.map((r) => r.def.replace(/.* USING/, 'USING'))).toEqual(['USING gin (content_tsv)']);
    await db.exec(
      `INSERT INTO live_chunks (doc_id, chunk_index, content, token_count, start_char, end_char, embedding, model, content_hash)
       VALUES (1, 0, 'Vacuuming reclaims storage', 3, 0, 26, '[1,0,0,0,0,0,0,1]', 'hash-v1', 'x'),
              (2, 0, 'Indexes speed up reads', 4, 0, 22, '[0,1,0,0,0,0,0,1]', 'hash-v1', 'y')`,
    );
    const pipeline = await findPipeline(db, { table: 'live' });
    const hits = await hybridSearch(db, pipeline, 'how does vacuum work', null, { k: 5 });
    expect(hits.map((h) => h.documentKey)).toEqual([[1]]);
  });
});
