import { afterEach, describe, expect, it } from 'vitest';
import type { Queryable } from '../../src/db/types.js';
import { enableDocumentChunking } from '../../src/pipelines/enable.js';
import { listPipelines } from '../../src/pipelines/pipeline.js';
import { loadDocumentStates, loadDocuments } from '../../src/sql/queries/loadDocuments.js';
import { loadStoredEmbeddings } from '../../src/sql/queries/loadStoredEmbeddings.js';
import { hasPostgres, openBackend, type TestBackend } from '../support/databases.js';

const ROWS = 8_000;
const BATCH = 512;

/**
 * Runs a query function's statement under EXPLAIN and returns the plan text. The callers then see
 * no rows, and may trip over that; an EXPLAIN that failed fails the test, whichever it was.
 */
async function planOf(db: Queryable, run: (explaining: Queryable) => Promise<unknown>): Promise<string> {
  const plans: string[] = [];
  const explainErrors: unknown[] = [];
  const explaining = {
    async query(sql: string, params?: unknown[]) {
      try {
        const result = await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, params);
        plans.push(result.rows.map((row) => row['QUERY PLAN']).join('\n'));
      } catch (error) {
        explainErrors.push(error);
      }
      return { rows: [], rowCount: 0 };
    },
  } as unknown as Queryable;
  await run(explaining).catch(() => {});
  if (explainErrors.length > 0) throw explainErrors[0];
  if (plans.length === 0) throw new Error('the query function ran no statement');
  return plans.join('\n---\n');
}

describe('per-batch lookups on postgres', () => {
  let backend: TestBackend;
  afterEach(async () => backend?.cleanup());

  it('probe the primary key once per document instead of hashing the whole table', async (context) => {
    if (!hasPostgres()) context.skip();
    backend = await openBackend('postgres', 'plans');
    const { db } = backend;
    await db.exec(`CREATE TABLE docs (id int PRIMARY KEY, body text NOT NULL);
                   INSERT INTO docs SELECT i, repeat('words of a document ', 40) FROM generate_series(1, ${ROWS}) i;
                   ANALYZE docs`);
    await enableDocumentChunking(db, { table: 'docs', column: 'body', provider: 'hash', dimensions: 8 });
    const pipeline = (await listPipelines(db)).find((p) => p.name === 'docs')!;
    const keys = Array.from({ length: BATCH }, (_, i) => JSON.stringify([i * 7 + 1]));

    for (const plan of [
      await planOf(db, (q) => loadDocuments(q, pipeline, keys)),
      await planOf(db, (q) => loadDocumentStates(q, pipeline, keys)),
    ]) {
      expect(plan).toMatch(/Index Scan using docs_pkey on docs/);
      expect(plan).not.toMatch(/Seq Scan on docs/);
    }
    // The chunk table as a worker finds it: three chunks per document, analysed by autovacuum.
    await db.exec(`INSERT INTO docs_chunks (doc_id, chunk_index, content, token_count, start_char, end_char,
                                            embedding, model, content_hash)
                   SELECT d, c, 'chunk', 1, 0, 5, '[1,0,0,0,0,0,0,0]', '${pipeline.model}', md5(d || ':' || c)
                   FROM generate_series(1, ${ROWS}) d, generate_series(0, 2) c;
                   ANALYZE docs_chunks`);
    const stored = await planOf(db, (q) => loadStoredEmbeddings(q, pipeline, keys));
    // One probe of the (document key, chunk index) index per document: a plain or a bitmap index scan.
    expect(stored).toMatch(/Index (Only )?Scan (using|on) docs_chunks_doc_id_chunk_index_key/);
    expect(stored).not.toMatch(/Seq Scan on docs_chunks/);
  });
});
