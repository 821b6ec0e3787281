/**
 * Whether a backfill defers its indexes is decided by the chunks it is expected to write (the
 * source's content size over the chunk size), not by its documents: a few long documents are a large
 * backfill. On PGlite and PostgreSQL; not timed (bench/ingest-hnsw.ts measures which way is faster).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/types.js';
import { enableDocumentChunking } from '../../src/pipelines/enable.js';
import { createHashProvider } from '../../src/providers/hash.js';
import { startWorker, type Worker } from '../../src/worker/worker.js';
import { BACKENDS, hasPostgres, openBackend, type TestBackend } from '../support/databases.js';
import { checkInvariants } from '../support/invariants.js';

const CHUNK_SIZE = 64;
const CHUNK_OVERLAP = 8;

/** A document of about `words` distinct words (no two documents, and no two chunks, share a text). */
function longDocument(seed: number, words: number): string {
  return Array.from({ length: words }, (_, w) => `w${seed}x${w % 977}y${w}`).join(' ');
}

async function threshold(db: Database): Promise<number> {
  const { rows } = await db.query<{ value: string }>(
    `SELECT value FROM pgembed.settings WHERE name = 'defer_index_chunks'`,
  );
  return Number(rows[0]!.value);
}

/** The chunk table's HNSW and GIN indexes, with whether PostgreSQL can use them. */
async function indexes(db: Database, table: string): Promise<{ am: string; valid: boolean }[]> {
  const { rows } = await db.query<{ am: string; valid: boolean }>(
    `SELECT am.amname AS am, (x.indisvalid AND x.indisready) AS valid
     FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_am am ON am.oid = i.relam
     WHERE x.indrelid = $1::regclass AND am.amname IN ('hnsw', 'gin') ORDER BY 1`,
    [table],
  );
  return rows;
}

describe.each(BACKENDS)('backfill index deferral on %s', (kind) => {
  let backend: TestBackend;
  let worker: Worker | undefined;

  beforeEach(async (context) => {
    if (kind === 'postgres' && !hasPostgres()) context.skip();
    backend = await openBackend(kind, 'backfill_defer');
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    await backend?.cleanup();
  });

  it('defers the indexes of a few documents that make many chunks, and builds them valid once drained', async () => {
    const { db } = backend;
    const docs = 4;
    // Each document alone is expected to pass a quarter of the threshold: 4 bytes per token.
    const perDoc = Math.ceil((await threshold(db)) / docs) + 10;
    const words = Math.ceil((perDoc * (CHUNK_SIZE - CHUNK_OVERLAP) * 4) / 12);
    await db.exec(`CREATE TABLE manuals (id int PRIMARY KEY, body text)`);
    await db.query(`INSERT INTO manuals SELECT i, t FROM unnest($1::int[], $2::text[]) AS u(i, t)`, [
      [1, 2, 3, 4],
      [1, 2, 3, 4].map((i) => longDocument(i, words)),
    ]);
    const result = await enableDocumentChunking(db, {
      table: 'manuals',
      column: 'body',
      provider: 'hash',
      dimensions: 16,
      chunkSize: CHUNK_SIZE,
      chunkOverlap: CHUNK_OVERLAP,
    });
    expect(result.queued).toBe(docs);
    expect(result.expected_chunks).toBeGreaterThanOrEqual(await threshold(db));
    expect(result.index_state).toBe('deferred');
    expect(await indexes(db, 'manuals_chunks')).toEqual([]);

    worker = await startWorker({
      db,
      providerFor: () => createHashProvider({ dimensions: 16 }),
      pollIntervalMs: 50,
      batchSize: 2,
    });
    await worker.drain({ timeoutMs: 120_000 });
    expect(await indexes(db, 'manuals_chunks')).toEqual([
      { am: 'gin', valid: true },
      { am: 'hnsw', valid: true },
    ]);
    const { rows } = await db.query<{ state: string; chunks: number }>(
      `SELECT index_state AS state, (SELECT count(*)::int FROM manuals_chunks) AS chunks
       FROM pgembed.pipelines WHERE name = 'manuals'`,
    );
    expect(rows[0]!.state).toBe('live');
    // The estimate is one: the real chunks are what the chunker made of every document.
    expect(rows[0]!.chunks).toBeGreaterThanOrEqual(docs * perDoc * 0.5);
    expect(await checkInvariants(db, 'manuals')).toMatchObject({ stale: [], orphans: 0 });
  });

  it('keeps the indexes live for a small backfill, and for a large one when told to', async () => {
    const { db } = backend;
    await db.exec(`CREATE TABLE notes (id int PRIMARY KEY, body text)`);
    await db.query(`INSERT INTO notes SELECT i, 'a short note, number ' || i FROM generate_series(1, 20) i`);
    const small = await enableDocumentChunking(db, {
      table: 'notes',
      column: 'body',
      provider: 'hash',
      dimensions: 16,
    });
    expect(small).toMatchObject({ queued: 20, expected_chunks: 20, index_state: 'live' });
    expect(await indexes(db, 'notes_chunks')).toEqual([
      { am: 'gin', valid: true },
      { am: 'hnsw', valid: true },
    ]);

    // defer_index_rows counts expected chunk rows: above them the indexes stay live, at or
    // below them (even far above the documents) they are deferred.
    await db.exec(`CREATE TABLE long_notes (id int PRIMARY KEY, body text)`);
    await db.query(`INSERT INTO long_notes VALUES (1, $1), (2, $2)`, [
      longDocument(1, 2_000),
      longDocument(2, 2_000),
    ]);
    const options = {
      table: 'long_notes',
      column: 'body',
      provider: 'hash',
      dimensions: 16,
      chunkSize: CHUNK_SIZE,
      chunkOverlap: CHUNK_OVERLAP,
    };
    const live = await enableDocumentChunking(db, {
      ...options,
      pipeline: 'live',
      deferIndexRows: 1_000_000,
    });
    expect(live.expected_chunks).toBeGreaterThan(2 * 50);
    expect(live.index_state).toBe('live');
    const deferred = await enableDocumentChunking(db, {
      ...options,
      pipeline: 'deferred',
      chunkTable: 'long_notes_deferred',
      deferIndexRows: live.expected_chunks,
    });
    expect(deferred).toMatchObject({ queued: 2, index_state: 'deferred' });
  });

  it("sizes the deferred build's maintenance_work_mem to the graph it builds", async () => {
    const { db } = backend;
    await db.exec(`CREATE TABLE notes (id int PRIMARY KEY, body text)`);
    await db.query(`INSERT INTO notes SELECT i, 'note ' || i FROM generate_series(1, 3) i`);
    const sized = async (pipeline: string) =>
      db.transaction(async (tx) => {
        await tx.query(`SELECT pgembed._create_indexes($1::text)`, [pipeline]);
        const { rows } = await tx.query<{ kb: string }>(
          `SELECT pg_size_bytes(current_setting('maintenance_work_mem')) / 1024 AS kb`,
        );
        return Number(rows[0]!.kb);
      });
    // An empty chunk table: the floor (16 MB), not the 512 MB whose shared segment took ~1 s to set up.
    await enableDocumentChunking(db, {
      table: 'notes',
      column: 'body',
      provider: 'hash',
      dimensions: 768,
      deferIndexRows: 0,
    });
    expect(await sized('notes')).toBe(16_384);
    // 5,000 chunks of 768 dimensions: 2 × (3,072 + 800) bytes each, a quarter more, plus 8 MB. (Not on
    // PGlite, whose WebAssembly HNSW build of them alone outlasts the test's timeout.)
    if (kind === 'pglite') return;
    await db.exec(`CREATE TABLE more (id int PRIMARY KEY, body text)`);
    await enableDocumentChunking(db, {
      table: 'more',
      column: 'body',
      provider: 'hash',
      dimensions: 768,
      deferIndexRows: 0,
    });
    await db.query(
      `INSERT INTO more_chunks (doc_id, chunk_index, content, token_count, start_char, end_char, embedding, model, content_hash)
       SELECT i, 0, 'x', 1, 0, 1, array_fill(0.5, ARRAY[768])::vector, 'hash-v1', 'h' || i FROM generate_series(1, 5000) i`,
    );
    expect(await sized('more')).toBe(8_192 + Math.floor((5_000 * 2 * (4 * 768 + 800) * 5) / 4 / 1024));
  }, 120_000);

  it('refuses a defer_index_chunks setting that is not a number of chunks, naming it', async () => {
    const { db } = backend;
    await db.exec(`CREATE TABLE notes (id int PRIMARY KEY, body text)`);
    await db.query(`UPDATE pgembed.settings SET value = 'lots' WHERE name = 'defer_index_chunks'`);
    await expect(
      enableDocumentChunking(db, { table: 'notes', column: 'body', provider: 'hash', dimensions: 16 }),
    ).rejects.toThrow(/setting defer_index_chunks must be a whole number of chunks \(got "lots"\)/);
    const { rows } = await db.query(`SELECT name FROM pgembed.pipelines`);
    expect(rows).toEqual([]);
  });
});
