import { afterEach, describe, expect, it } from 'vitest';
import type { Queryable } from '../../src/db/types.js';
import { enableDocumentChunking } from '../../src/pipelines/enable.js';
import { listPipelines } from '../../src/pipelines/pipeline.js';
import { loadDocumentStates, loadDocuments } from '../../src/sql/queries/loadDocuments.js';
import { loadStoredEmbeddings } from '../../src/sql/queries/loadStoredEmbeddings.js';
import { hasPostgres, openBackend, type TestBackend } from '../support/databases.js';

const ROWS = 8_000;
const BATCH = 512;

/** Runs a query function's statement under EXPLAIN and returns the plan text. */
async function planOf(db: Queryable, run: (explaining: Queryable) => Promise<unknown>): Promise<string> {
  const plans: string[] = [];
  const explaining = {
    async query(sql: string, params?: unknown[]) {
      const result = await db.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, params);
      plans.push(result.rows.map((row) => row['QUERY PLAN']).join('\n'));
      return { rows: [], rowCount: 0 };
    },
  } as unknown as Queryable;
  await run(explaining).catch((error: unknown) => {
    // The callers may trip over the empty rows once the plan is taken; an EXPLAIN that failed may not pass.
    if (plans.length === 0) throw error;
  });
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
    expect(await planOf(db, (q) => loadStoredEmbeddings(q, pipeline, keys))).not.toMatch(
      /Seq Scan on docs_chunks/,
    );
  });
});
