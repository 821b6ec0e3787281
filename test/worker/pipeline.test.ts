import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/types.js';
import { enableDocumentChunking } from '../../src/pipelines/enable.js';
import { createHashProvider } from '../../src/providers/hash.js';
import { startWorker, type Worker } from '../../src/worker/worker.js';
import { BACKENDS, hasPostgres, openBackend, type TestBackend } from '../support/databases.js';
import { checkInvariants } from '../support/invariants.js';
import { countingHashProvider } from '../support/providers.js';

function paragraph(i: number, words = 120): string {
  const vocabulary = [
    'vector',
    'index',
    'postgres',
    'chunk',
    'embedding',
    'query',
    'table',
    'worker',
    'lease',
    'batch',
  ];
  // Every word names its document, so no two documents share a chunk text.
  return Array.from(
    { length: words },
    (_, w) => `${vocabulary[(i * 7 + w * 3) % vocabulary.length]}${(i + w) % 13}d${i}`,
  ).join(' ');
}

async function queueCount(db: Database): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT (SELECT count(*) FROM pgembed.queue)::int + (SELECT count(*) FROM pgembed.queue_log)::int AS n`,
  );
  return rows[0]!.n;
}

describe.each(BACKENDS)('pipeline end to end on %s', (kind) => {
  let backend: TestBackend;
  let worker: Worker | undefined;

  beforeEach(async (context) => {
    if (kind === 'postgres' && !hasPostgres()) context.skip();
    backend = await openBackend(kind, 'pipeline');
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    await backend?.cleanup();
  });

  it('embeds exactly the committed documents, re-embeds only what changed, and follows deletes', async () => {
    const { db } = backend;
    const docs = kind === 'postgres' ? 1000 : 200;
    const perTx = docs / 10;
    await db.exec(`CREATE TABLE articles (id bigint PRIMARY KEY, title text, body text)`);
    await enableDocumentChunking(db, {
      table: 'articles',
      column: 'body',
      provider: 'hash',
      chunkSize: 100,
      chunkOverlap: 10,
    });

    for (let t = 0; t < 10; t++) {
      const insert = db.transaction(async (tx) => {
        await tx.query(
          `INSERT INTO articles (id, title, body) SELECT i, 't' || i, ($3::text[])[i - $1 + 1] FROM generate_series($1::int, $2::int) i`,
          [
            t * perTx + 1,
            (t + 1) * perTx,
            Array.from({ length: perTx }, (_, j) => paragraph(t * perTx + j + 1)),
          ],
        );
        if (t === 9) throw new Error('roll back');
      });
      if (t === 9) await expect(insert).rejects.toThrow('roll back');
      else await insert;
    }
    expect(await queueCount(db)).toBe(docs - perTx);

    const { provider, texts } = countingHashProvider(768);
    worker = await startWorker({ db, providerFor: () => provider, batchSize: 50, pollIntervalMs: 100 });
    await worker.drain({ timeoutMs: 120_000 });

    let report = await checkInvariants(db, 'articles');
    expect(report).toMatchObject({
      documents: docs - perTx,
      stale: [],
      wrongVectors: 0,
      orphans: 0,
      processing: 0,
    });
    const { rows: chunkRows } = await db.query<{ n: number; docs: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT doc_id)::int AS docs FROM articles_chunks`,
    );
    expect(chunkRows[0]!.docs).toBe(docs - perTx);
    // Each chunk text embedded exactly once.
    expect(texts.length).toBe(chunkRows[0]!.n);

    // Updating a non-content column enqueues nothing.
    await db.query(`UPDATE articles SET title = title || '!' WHERE id <= 100`);
    expect(await queueCount(db)).toBe(0);

    // Changing the tail of 100 documents re-embeds only their changed chunks.
    const { rows: before } = await db.query<{ id: string; doc_id: string; chunk_index: number }>(
      `SELECT id::text, doc_id::text, chunk_index FROM articles_chunks WHERE doc_id <= 100 ORDER BY doc_id, chunk_index`,
    );
    texts.length = 0;
    await db.query(`UPDATE articles SET body = body || ' appended words at the end' WHERE id <= 100`);
    expect(await queueCount(db)).toBe(100);
    await worker.drain({ timeoutMs: 60_000 });
    report = await checkInvariants(db, 'articles');
    expect(report).toMatchObject({ stale: [], wrongVectors: 0, orphans: 0, processing: 0 });
    const { rows: after } = await db.query<{ id: string; doc_id: string; chunk_index: number }>(
      `SELECT id::text, doc_id::text, chunk_index FROM articles_chunks WHERE doc_id <= 100 ORDER BY doc_id, chunk_index`,
    );
    const kept = after.filter((row) => before.some((b) => b.id === row.id));
    // Every document's last chunk changed; its earlier chunks kept their rows and embeddings.
    expect(kept.length).toBe(before.length - 100);
    expect(texts.length).toBe(after.length - kept.length);
    expect(texts.every((text) => text.endsWith('appended words at the end'))).toBe(true);

    // Deleting 50 removes their chunks at once.
    await db.query(`DELETE FROM articles WHERE id BETWEEN 101 AND 150`);
    const { rows: gone } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM articles_chunks WHERE doc_id BETWEEN 101 AND 150`,
    );
    expect(gone[0]!.n).toBe(0);
    await worker.drain({ timeoutMs: 60_000 });
    report = await checkInvariants(db, 'articles');
    expect(report).toMatchObject({ documents: docs - perTx - 50, stale: [], orphans: 0, processing: 0 });

    const { rows: status } = await db.query<{ pending: number; processing: number; failed: number }>(
      `SELECT pending::int, processing::int, failed::int FROM pgembed.queue_status WHERE pipeline = 'articles'`,
    );
    expect(status[0]).toEqual({ pending: 0, processing: 0, failed: 0 });
  });

  it('handles composite and text keys, hostile names, NULL and empty content, and TRUNCATE', async () => {
    const { db } = backend;
    await db.exec(`CREATE SCHEMA "Odd; Schema"`);
    await db.exec(
      `CREATE TABLE "Odd; Schema"."select" ("Tenant" text, "order" int, "Body ""quoted""" text, PRIMARY KEY ("Tenant", "order"))`,
    );
    await enableDocumentChunking(db, {
      table: '"Odd; Schema"."select"',
      column: 'Body "quoted"',
      provider: 'hash',
      dimensions: 16,
      chunkSize: 20,
      chunkOverlap: 5,
    });
    await db.query(
      `INSERT INTO "Odd; Schema"."select" VALUES ('a''b', 1, $1), ('a''b', 2, NULL), ('c', 1, ''), ('c', 2, $2)`,
      [paragraph(1, 60), 'naïve café 日本語 😀 مرحبا'],
    );
    worker = await startWorker({
      db,
      providerFor: () => createHashProvider({ dimensions: 16 }),
      pollIntervalMs: 100,
    });
    await worker.drain();
    expect(await checkInvariants(db, 'select')).toMatchObject({ stale: [], wrongVectors: 0, orphans: 0 });
    const { rows } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "Odd; Schema"."select_chunks"`,
    );
    expect(rows[0]!.n).toBeGreaterThan(3);

    // A primary-key update moves the chunks to the new key.
    await db.query(`UPDATE "Odd; Schema"."select" SET "order" = 3 WHERE "Tenant" = 'c' AND "order" = 2`);
    await worker.drain();
    expect(await checkInvariants(db, 'select')).toMatchObject({ stale: [], orphans: 0 });

    await db.query(`TRUNCATE "Odd; Schema"."select"`);
    const { rows: after } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "Odd; Schema"."select_chunks"`,
    );
    expect(after[0]!.n).toBe(0);
    expect(await queueCount(db)).toBe(0);
  });

  it('builds the indexes after a large backfill drains, not during it', async () => {
    const { db } = backend;
    await db.exec(`CREATE TABLE big (id int PRIMARY KEY, body text)`);
    await db.query(
      `INSERT INTO big SELECT i, 'row ' || i || ' of the backfill' FROM generate_series(1, 60) i`,
    );
    const result = await enableDocumentChunking(db, {
      table: 'big',
      column: 'body',
      provider: 'hash',
      dimensions: 16,
      deferIndexRows: 50,
    });
    expect(result).toMatchObject({ queued: 60, index_state: 'deferred' });
    const indexes = async () =>
      (
        await db.query<{ def: string }>(
          `SELECT indexdef AS def FROM pg_indexes WHERE tablename = 'big_chunks' AND (indexdef LIKE '%hnsw%' OR indexdef LIKE '%gin%')`,
        )
      ).rows;
    expect(await indexes()).toEqual([]);
    worker = await startWorker({
      db,
      providerFor: () => createHashProvider({ dimensions: 16 }),
      pollIntervalMs: 50,
    });
    await worker.drain();
    const built = await indexes();
    expect(built.map((row) => row.def).join('\n')).toMatch(
      /USING hnsw \(embedding vector_cosine_ops\)[\s\S]*USING gin|USING gin[\s\S]*USING hnsw/,
    );
    const { rows } = await db.query(`SELECT index_state FROM pgembed.pipelines WHERE name = 'big'`);
    expect(rows).toEqual([{ index_state: 'live' }]);
    // The build's parallel_workers setting is put back (the table had none).
    const { rows: options } = await db.query(
      `SELECT reloptions FROM pg_class WHERE oid = 'big_chunks'::regclass`,
    );
    expect(options).toEqual([{ reloptions: null }]);
  });

  it('refuses bad declarations with errors that name the problem, changing nothing', async () => {
    const { db } = backend;
    await db.exec(`CREATE TABLE nokey (body text)`);
    await db.exec(`CREATE TABLE docs (id int PRIMARY KEY, body text, n int)`);
    await expect(enableDocumentChunking(db, { table: 'missing', column: 'body' })).rejects.toThrow(
      /"missing" does not exist/,
    );
    await expect(enableDocumentChunking(db, { table: 'nokey', column: 'body' })).rejects.toThrow(
      /has no primary key/,
    );
    await expect(enableDocumentChunking(db, { table: 'docs', column: 'nope' })).rejects.toThrow(
      /has no column "nope"/,
    );
    await expect(enableDocumentChunking(db, { table: 'docs', column: 'n' })).rejects.toThrow(
      /not a text column/,
    );
    await expect(
      enableDocumentChunking(db, { table: 'docs', column: 'body', chunkSize: 300 }),
    ).rejects.toThrow(/exceeds the 254 tokens/);
    await expect(
      enableDocumentChunking(db, {
        table: 'docs',
        column: 'body',
        provider: 'hash',
        apiKeyEnv: 'sk-live-123',
      }),
    ).rejects.toThrow(/NAME of an environment variable/);
    const { rows } = await db.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM pgembed.pipelines)::int + (SELECT count(*) FROM pg_tables WHERE tablename LIKE '%_chunks')::int AS n`,
    );
    expect(rows[0]!.n).toBe(0);
  });
});

describe.skipIf(!hasPostgres())('writers without pgembed privileges on postgres', () => {
  it('an application role with rights on its table alone can insert, update, delete and truncate', async () => {
    const backend = await openBackend('postgres', 'app_role');
    const { db } = backend;
    const role = `app_${Date.now().toString(36)}`;
    try {
      await db.exec(`CREATE TABLE docs (id int PRIMARY KEY, body text)`);
      await enableDocumentChunking(db, { table: 'docs', column: 'body', provider: 'hash', dimensions: 8 });
      await db.exec(`CREATE ROLE ${role}; GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON docs TO ${role}`);
      await db.transaction(async (tx) => {
        await tx.query(`SET LOCAL ROLE ${role}`);
        await tx.query(`INSERT INTO docs VALUES (1, 'one'), (2, 'two')`);
        await tx.query(`UPDATE docs SET body = 'uno' WHERE id = 1`);
        await tx.query(`DELETE FROM docs WHERE id = 2`);
      });
      // One log entry per change; workers deduplicate when they move the log into the queue.
      const { rows } = await db.query(`SELECT DISTINCT doc_key FROM pgembed.queue_log ORDER BY doc_key`);
      expect(rows).toEqual([{ doc_key: [1] }, { doc_key: [2] }]);
      await db.transaction(async (tx) => {
        await tx.query(`SET LOCAL ROLE ${role}`);
        await tx.query(`TRUNCATE docs`);
      });
      expect(
        (await db.query(`SELECT 1 FROM pgembed.queue UNION ALL SELECT 1 FROM pgembed.queue_log`)).rowCount,
      ).toBe(0);
    } finally {
      await db.exec(`DROP OWNED BY ${role}; DROP ROLE IF EXISTS ${role}`).catch(() => {});
      await backend.cleanup();
    }
  });
});
