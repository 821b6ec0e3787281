/**
 * What deferring the indexes buys a backfill, and where the default decision puts the line: the same
 * ingest as ingest.ts (hash provider, 768 dimensions, worker concurrency 2, durable cluster), at
 * several sizes, each run on a fresh database:
 *   (a) live     — `defer_index_rows` above the backlog: HNSW and GIN exist up front and every chunk
 *                  is inserted into them;
 *   (b) deferred — `defer_index_rows` 0: chunks are written index-less, then the worker that finds
 *                  the queue empty builds HNSW + GIN in one go; `drain()` waits for that build.
 * Both are timed from enable to `drain()` resolved, indexes included. Speed-up = (a) / (b). Per size:
 * b, a, b (the two deferred runs bracket the live one; from 50,000 chunks on b, a only), and the
 * choice `enable_document_chunking` makes by default for that backfill (`auto`: its expected chunks
 * against the `defer_index_chunks` setting), which must be the faster one.
 *
 *   npx tsx bench/ingest-hnsw.ts [--quick] [--chunks 2000,20000,100000]
 */
import type { Database } from '../src/db/types.js';
import { isQuick, openBenchDatabase, report } from './support/common.js';
import { DIMENSIONS, type IngestResult, loadSourceDocuments, runIngest } from './support/ingest.js';

const quick = isQuick();
const WORDS = 120;
const CHUNK_SIZE = 256;
const CHUNK_OVERLAP = 32;
const GOAL = 1;
/** Above this, one deferred run instead of two (a live run at 100,000 chunks takes minutes here). */
const BRACKET_UP_TO = 50_000;

function sizes(): number[] {
  const at = process.argv.indexOf('--chunks');
  if (at < 0) return quick ? [500, 2_000] : [2_000, 20_000];
  const list = (process.argv[at + 1] ?? '').split(',').map(Number);
  if (list.length === 0 || !list.every((n) => Number.isInteger(n) && n > 0))
    throw new Error('--chunks needs a comma-separated list of positive integers, e.g. --chunks 2000,20000');
  return list;
}

let versions: Record<string, string> = {};

/** What enable decides by default for `articles` at these chunk settings (its own functions). */
async function defaultChoice(db: Database): Promise<{ expected: number; threshold: number }> {
  const { rows } = await db.query<{ expected: number; threshold: number }>(
    `SELECT (SELECT sum(pgembed._expected_chunks(octet_length(body), $1, $2))::int FROM articles) AS expected,
            pgembed._defer_index_chunks()::int AS threshold`,
    [CHUNK_SIZE, CHUNK_OVERLAP],
  );
  return rows[0]!;
}

async function once(
  mode: 'live' | 'deferred',
  docs: number,
): Promise<IngestResult & { expected: number; threshold: number }> {
  const bench = await openBenchDatabase(`hnsw_${mode}`, { durable: true });
  versions = bench.versions;
  try {
    await loadSourceDocuments(bench.db, 'articles', docs, WORDS);
    const choice = await defaultChoice(bench.db);
    await bench.db.exec('CHECKPOINT');
    const result = await runIngest(
      bench.db,
      {
        table: 'articles',
        docs,
        words: WORDS,
        chunkSize: CHUNK_SIZE,
        chunkOverlap: CHUNK_OVERLAP,
        deferIndexRows: mode === 'live' ? Number.MAX_SAFE_INTEGER : 0,
        concurrency: 2,
      },
      docs,
      bench.dataDir,
    );
    if (result.indexState !== mode) throw new Error(`expected index_state ${mode}, got ${result.indexState}`);
    return { ...result, ...choice };
  } finally {
    await bench.close();
  }
}

async function main(): Promise<void> {
  const rows = [];
  const runs = [];
  for (const chunks of sizes()) {
    // One chunk per document at these sizes (ingest.ts checks the exact count against the chunker).
    const deferredA = await once('deferred', chunks);
    const live = await once('live', chunks);
    const deferredB = chunks <= BRACKET_UP_TO ? await once('deferred', chunks) : undefined;
    const deferred = deferredB ? [deferredA, deferredB] : [deferredA];
    const deferredMs = deferred.reduce((sum, r) => sum + r.totalMs, 0) / deferred.length;
    const rate = (ms: number) => chunks / (ms / 1000);
    const speedUp = live.totalMs / deferredMs;
    const auto = deferredA.expected >= deferredA.threshold ? 'deferred' : 'live';
    const faster = speedUp >= 1 ? 'deferred' : 'live';
    rows.push(
      {
        metric: `${chunks} chunks: deferred (b) vs live (a); default: ${auto}`,
        pgembed: rate(deferredMs),
        baseline: rate(live.totalMs),
        unit: 'chunks/s',
        ratio: speedUp,
        goal: `default = the faster (${faster})`,
        met: auto === faster,
      },
      {
        metric: `${chunks} chunks: (b) of which the deferred index build`,
        pgembed: deferred.reduce((sum, r) => sum + (r.indexBuildMs ?? 0), 0) / deferred.length,
        baseline: null,
        unit: 'ms',
        ratio: null,
        goal: 'info',
        met: null,
      },
    );
    runs.push({
      chunks,
      expectedChunks: deferredA.expected,
      threshold: deferredA.threshold,
      live: { totalMs: live.totalMs, chunksPerSecond: rate(live.totalMs), batches: live.batches },
      deferred: deferred.map((r) => ({
        totalMs: r.totalMs,
        writeMs: r.writeMs,
        indexBuildMs: r.indexBuildMs,
        chunksPerSecond: rate(r.totalMs),
      })),
    });
    console.error(
      `${chunks} chunks: live ${(live.totalMs / 1000).toFixed(2)} s, deferred ${deferred
        .map((r) => (r.totalMs / 1000).toFixed(2))
        .join(
          ' / ',
        )} s (build ${deferred.map((r) => ((r.indexBuildMs ?? 0) / 1000).toFixed(2)).join(' / ')} s)`,
    );
  }
  report('ingest-hnsw', rows, { quick, goal: GOAL, dimensions: DIMENSIONS, runs, versions });
}

await main();
