/**
 * What deferring the indexes buys a backfill: the same ingest as ingest.ts (hash provider, 768
 * dimensions, worker concurrency 2, durable cluster), twice, each on a fresh database:
 *   (a) live     — `defer_index_rows` above the backlog: HNSW and GIN exist up front and every chunk
 *                  is inserted into them (the baseline);
 *   (b) deferred — `defer_index_rows` 0: chunks are written index-less, then the worker that finds
 *                  the queue empty builds HNSW + GIN in one go; `drain()` waits for that build.
 * Both are timed from enable to `drain()` resolved, indexes included. Speed-up = (a) / (b).
 *
 *   npx tsx bench/ingest-hnsw.ts [--quick] [--docs N]
 */
import { integerArgument, isQuick, openBenchDatabase, report } from './support/common.js';
import { DIMENSIONS, type IngestResult, loadSourceDocuments, runIngest } from './support/ingest.js';

const quick = isQuick();
// Live HNSW inserts at 768 dimensions run at a few hundred rows/s here: keep (a) under a minute.
const DOCS = integerArgument('--docs', quick ? 1_000 : 4_000);
const WORDS = 120;
const CHUNK_SIZE = 256;
const CHUNK_OVERLAP = 32;
const GOAL = 5;

let versions: Record<string, string> = {};

async function once(mode: 'live' | 'deferred', expectedChunks: number): Promise<IngestResult> {
  const bench = await openBenchDatabase(`hnsw_${mode}`, { durable: true });
  versions = bench.versions;
  try {
    await loadSourceDocuments(bench.db, 'articles', DOCS, WORDS);
    await bench.db.exec('CHECKPOINT');
    const result = await runIngest(
      bench.db,
      {
        table: 'articles',
        docs: DOCS,
        words: WORDS,
        chunkSize: CHUNK_SIZE,
        chunkOverlap: CHUNK_OVERLAP,
        deferIndexRows: mode === 'live' ? DOCS + 1 : 0,
        concurrency: 2,
      },
      expectedChunks,
      bench.dataDir,
    );
    if (result.indexState !== mode) throw new Error(`expected index_state ${mode}, got ${result.indexState}`);
    return result;
  } finally {
    await bench.close();
  }
}

async function main(): Promise<void> {
  // One chunk per document at these sizes (ingest.ts checks the exact count against the chunker).
  const expected = DOCS;
  // Deferred first, live second, deferred again: the two deferred runs bracket the live one.
  const deferredA = await once('deferred', expected);
  const live = await once('live', expected);
  const deferredB = await once('deferred', expected);
  const deferredMs = (deferredA.totalMs + deferredB.totalMs) / 2;
  const rate = (ms: number) => expected / (ms / 1000);
  const speedUp = live.totalMs / deferredMs;
  report(
    'ingest-hnsw',
    [
      {
        metric: 'backfill, HNSW + GIN deferred (b) vs live (a)',
        pgembed: rate(deferredMs),
        baseline: rate(live.totalMs),
        unit: 'chunks/s',
        ratio: speedUp,
        goal: `≥ ${GOAL}× faster`,
        met: speedUp >= GOAL,
      },
      {
        metric: '(b) of which: deferred index build',
        pgembed: ((deferredA.indexBuildMs ?? 0) + (deferredB.indexBuildMs ?? 0)) / 2,
        baseline: null,
        unit: 'ms',
        ratio: null,
        goal: 'info',
        met: null,
      },
    ],
    {
      quick,
      chunks: expected,
      dimensions: DIMENSIONS,
      live: {
        totalMs: live.totalMs,
        chunksPerSecond: rate(live.totalMs),
        batches: live.batches,
        batchMs: live.batchMs,
      },
      deferred: [deferredA, deferredB].map((r) => ({
        totalMs: r.totalMs,
        writeMs: r.writeMs,
        indexBuildMs: r.indexBuildMs,
        chunksPerSecond: rate(r.totalMs),
      })),
      versions,
    },
  );
}

await main();
