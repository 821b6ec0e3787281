/**
 * Ingest throughput: documents already in a table → `enable_document_chunking` (backfill) → one
 * worker (concurrency 2, `hash` provider, 768 dimensions) drains the queue. The backlog is larger
 * than `defer_index_rows`, so chunks are written without the HNSW and GIN indexes, which are built
 * once the queue is empty; that build is the subject of ingest-hnsw.ts and is reported here apart.
 *
 * Baseline, same run: the very same chunk rows (same columns, same 768-dim vectors) written by one
 * raw `COPY … FROM STDIN (FORMAT BINARY)` into an index-less table of the chunk table's shape,
 * timed before and after the pgembed run (A/B/A) so drift on this shared machine cancels out.
 *
 * The same backfill is then drained by PROCESSES worker processes (concurrency 1 each, as
 * `pgembed worker` runs by default) started before enable: one process is bound by its single
 * JavaScript thread, more use the cores it leaves idle.
 *
 * Each side's CPU per chunk (this Node process, the cluster's processes, the machine's busy share)
 * is reported too: on a machine with few cores, the sum bounds what any overlap can reach.
 *
 *   npx tsx bench/ingest.ts [--quick] [--docs N] [--batch-size N]
 */
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { getChunker, tokenizerFor } from '../src/chunking/index.js';
import { type CopyValue, encodeCopyBinary } from '../src/db/copyBinary.js';
import { enableDocumentChunking } from '../src/pipelines/enable.js';
import { hashEmbedding } from '../src/providers/hash.js';
import { chunkHash } from '../src/worker/batch.js';
import {
  type BenchDatabase,
  documentText,
  integerArgument,
  isQuick,
  now,
  openBenchDatabase,
  report,
  sleep,
} from './support/common.js';
import { type CpuPerItem, cpuPerItem, cpuSnapshot } from './support/cpu.js';
import { DIMENSIONS, loadSourceDocuments, runIngest } from './support/ingest.js';
import { startWorkerProcess, stopWorkerProcess } from './support/workers.js';

const quick = isQuick();
const DOCS = integerArgument('--docs', quick ? 4_000 : 20_000);
/** Documents the worker claims per batch; the worker's default unless given. */
const BATCH_SIZE = process.argv.includes('--batch-size') ? integerArgument('--batch-size', 128) : undefined;
// ~120 words ≈ 170 cl100k tokens: one chunk per document, like a support article paragraph.
const WORDS = 120;
const CHUNK_SIZE = 256;
const CHUNK_OVERLAP = 32;
const MODEL = 'hash-v1';
const PROCESSES = 2;
const GOAL = 0.5;

interface ChunkRow {
  docId: number;
  index: number;
  content: string;
  tokenCount: number;
  startChar: number;
  endChar: number;
  embedding: number[];
  hash: string;
}

/** What the worker computes for each document, computed here once for the baseline (untimed). */
function chunkRows(docs: number): { rows: ChunkRow[]; cpuMs: number } {
  const chunker = getChunker('token');
  const tokenizer = tokenizerFor('hash', MODEL);
  const began = now();
  const rows: ChunkRow[] = [];
  for (let id = 1; id <= docs; id++) {
    for (const chunk of chunker(documentText(id, WORDS), {
      chunkSize: CHUNK_SIZE,
      chunkOverlap: CHUNK_OVERLAP,
      tokenizer,
    })) {
      rows.push({
        docId: id,
        index: chunk.index,
        content: chunk.content,
        tokenCount: chunk.tokenCount,
        startChar: chunk.startChar,
        endChar: chunk.endChar,
        embedding: hashEmbedding(chunk.content, DIMENSIONS, MODEL),
        hash: chunkHash(MODEL, chunk.content),
      });
    }
  }
  return { rows, cpuMs: now() - began };
}

const BASELINE_COLUMNS = [
  'doc_id',
  'chunk_index',
  'content',
  'token_count',
  'start_char',
  'end_char',
  'heading_path',
  'embedding',
  'model',
  'content_hash',
];

/**
 * One COPY of every row (encoding included: any loader must produce the bytes), in one autocommit
 * statement, into a table with the chunk table's columns and defaults but no index or constraint.
 * Returns rows per second and the CPU spent per row.
 */
async function copyBaseline(
  url: string,
  dataDir: string | null,
  rows: ChunkRow[],
): Promise<{ rate: number; cpu: CpuPerItem }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP TABLE IF EXISTS copy_baseline`);
    await client.query(
      `CREATE TABLE copy_baseline (
         id bigint GENERATED ALWAYS AS IDENTITY, doc_id int NOT NULL, chunk_index int NOT NULL,
         content text NOT NULL, token_count int NOT NULL, start_char int NOT NULL, end_char int NOT NULL,
         heading_path text[], embedding vector(${DIMENSIONS}) NOT NULL, model text NOT NULL,
         content_hash text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
         metadata jsonb NOT NULL DEFAULT '{}')`,
    );
    await client.query('CHECKPOINT');
    const cpuBefore = cpuSnapshot(dataDir);
    const began = now();
    const stream = client.query(
      copyStreams.from(`COPY copy_baseline (${BASELINE_COLUMNS.join(', ')}) FROM STDIN (FORMAT BINARY)`),
    );
    const done = new Promise<void>((resolve, reject) => {
      stream.on('error', reject);
      stream.on('finish', resolve);
    });
    const slice = 1_000;
    for (let start = 0; start < rows.length; start += slice) {
      const data = encodeCopyBinary(
        rows
          .slice(start, start + slice)
          .map((row): CopyValue[] => [
            { type: 'int4', value: row.docId },
            { type: 'int4', value: row.index },
            { type: 'text', value: row.content },
            { type: 'int4', value: row.tokenCount },
            { type: 'int4', value: row.startChar },
            { type: 'int4', value: row.endChar },
            { type: 'null' },
            { type: 'vector', value: row.embedding },
            { type: 'text', value: MODEL },
            { type: 'text', value: row.hash },
          ]),
      );
      // encodeCopyBinary writes a whole COPY stream (header … trailer); splice the slices into one.
      const body = data.subarray(
        start === 0 ? 0 : 19,
        start + slice >= rows.length ? data.length : data.length - 2,
      );
      if (!stream.write(body)) await new Promise((resolve) => stream.once('drain', resolve));
    }
    stream.end();
    await done;
    const rate = rows.length / ((now() - began) / 1000);
    return { rate, cpu: cpuPerItem(cpuBefore, cpuSnapshot(dataDir), rows.length) };
  } finally {
    await client.end();
  }
}

/**
 * Enable → every chunk committed, with PROCESSES worker processes already running (and idle) when
 * the pipeline is enabled. Returns chunks per second and the machine's busy share.
 */
async function processesIngest(
  bench: BenchDatabase,
  expected: number,
): Promise<{ rate: number; machineBusy: number | null }> {
  await loadSourceDocuments(bench.db, 'articles_p', DOCS, WORDS);
  const workers = await Promise.all(
    Array.from({ length: PROCESSES }, () => startWorkerProcess(bench.url, { until: 'idle' })),
  );
  try {
    await bench.db.exec('CHECKPOINT');
    // The machine's busy share only: the workers are processes of their own.
    const cpuBefore = cpuSnapshot(null);
    const began = now();
    const { chunk_table } = await enableDocumentChunking(bench.db, {
      table: 'articles_p',
      column: 'body',
      provider: 'hash',
      dimensions: DIMENSIONS,
      chunkSize: CHUNK_SIZE,
      chunkOverlap: CHUNK_OVERLAP,
      deferIndexRows: 0,
    });
    // Watched cheaply: max(id) is one probe of the primary key; the rows are counted only once it is there.
    for (;;) {
      const { rows } = await bench.db.query<{ done: boolean }>(
        `SELECT CASE WHEN (SELECT max(id) FROM ${chunk_table}) >= $1
                     THEN (SELECT count(*) FROM ${chunk_table}) >= $1 ELSE false END AS done`,
        [expected],
      );
      if (rows[0]?.done) break;
      await sleep(20);
    }
    const seconds = (now() - began) / 1000;
    return {
      rate: expected / seconds,
      machineBusy: cpuPerItem(cpuBefore, cpuSnapshot(null), 1).machineBusy,
    };
  } finally {
    // A worker building the deferred indexes finishes that first (untimed).
    await Promise.all(workers.map(stopWorkerProcess));
  }
}

async function main(): Promise<void> {
  const bench = await openBenchDatabase('ingest', { durable: true });
  try {
    const { rows, cpuMs } = chunkRows(DOCS);
    await loadSourceDocuments(bench.db, 'articles', DOCS, WORDS);

    const copyBefore = await copyBaseline(bench.url, bench.dataDir, rows);
    await bench.db.exec('CHECKPOINT');
    const result = await runIngest(
      bench.db,
      {
        table: 'articles',
        docs: DOCS,
        words: WORDS,
        chunkSize: CHUNK_SIZE,
        chunkOverlap: CHUNK_OVERLAP,
        deferIndexRows: 0,
        concurrency: 2,
        ...(BATCH_SIZE ? { batchSize: BATCH_SIZE } : {}),
      },
      rows.length,
      bench.dataDir,
    );
    await bench.db.exec('CHECKPOINT');
    const copyAfter = await copyBaseline(bench.url, bench.dataDir, rows);
    const processes = await processesIngest(bench, rows.length);

    const copyRate = (copyBefore.rate + copyAfter.rate) / 2;
    const copyCpu = copyAfter.cpu;
    /** An info row, left out when /proc could not tell (not Linux, or a cluster not started here). */
    const infoRow = (metric: string, unit: string, pgembed: number | null, baseline: number | null) =>
      pgembed === null || baseline === null
        ? []
        : [{ metric, pgembed, baseline, unit, ratio: pgembed / baseline, goal: 'info', met: null }];
    const writeRate = result.chunks / (result.writeMs / 1000);
    const totalRate = result.chunks / (result.totalMs / 1000);
    const chunkEmbedRate = rows.length / (cpuMs / 1000);
    report(
      'ingest',
      [
        {
          metric: 'ingest, enable → all chunks committed',
          pgembed: writeRate,
          baseline: copyRate,
          unit: 'chunks/s',
          ratio: writeRate / copyRate,
          goal: `≥ ${GOAL} of COPY`,
          met: writeRate / copyRate >= GOAL,
        },
        {
          metric: `ingest, ${PROCESSES} worker processes`,
          pgembed: processes.rate,
          baseline: copyRate,
          unit: 'chunks/s',
          ratio: processes.rate / copyRate,
          goal: 'info',
          met: null,
        },
        {
          metric: 'ingest incl. deferred HNSW + GIN build',
          pgembed: totalRate,
          baseline: copyRate,
          unit: 'chunks/s',
          ratio: totalRate / copyRate,
          goal: 'info',
          met: null,
        },
        ...infoRow('CPU: Node (worker / COPY client)', 'µs/chunk', result.cpu.node, copyCpu.node),
        ...infoRow('CPU: PostgreSQL', 'µs/chunk', result.cpu.postgres, copyCpu.postgres),
        ...infoRow('machine busy, all cores', 'share', result.cpu.machineBusy, copyCpu.machineBusy),
        {
          metric: 'chunk + hash-embed alone, 1 core (no DB)',
          pgembed: chunkEmbedRate,
          baseline: null,
          unit: 'chunks/s',
          ratio: null,
          goal: 'info',
          met: null,
        },
      ],
      {
        quick,
        docs: DOCS,
        chunks: result.chunks,
        dimensions: DIMENSIONS,
        batchSize: BATCH_SIZE ?? 'worker default',
        copyRowsPerSecond: { before: copyBefore.rate, after: copyAfter.rate },
        copyCpuPerRow: copyCpu,
        writeMs: result.writeMs,
        totalMs: result.totalMs,
        indexBuildMs: result.indexBuildMs,
        indexState: result.indexState,
        cpuPerChunk: result.cpu,
        processes: { count: PROCESSES, chunksPerSecond: processes.rate, machineBusy: processes.machineBusy },
        worker: { batches: result.batches, batchMs: result.batchMs, providerMs: result.providerMs },
        versions: bench.versions,
      },
    );
  } finally {
    await bench.close();
  }
}

await main();
