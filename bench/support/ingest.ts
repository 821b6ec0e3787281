/**
 * The ingest path both ingest benchmarks time: a source table already holding the documents, then
 * `enable_document_chunking` (backfill) and a worker that drains the queue.
 */

import type { Database } from '../../src/db/types.js';
import { enableDocumentChunking } from '../../src/pipelines/enable.js';
import { startWorker } from '../../src/worker/worker.js';
import { documentText, now } from './common.js';
import { type CpuPerItem, cpuPerItem, cpuSnapshot } from './cpu.js';

export const DIMENSIONS = 768;

export interface IngestSettings {
  table: string;
  docs: number;
  /** Words per document; with `chunkSize` it decides the chunks per document. */
  words: number;
  chunkSize: number;
  chunkOverlap: number;
  /** At most the expected chunks: indexes are built after draining; above them: created up front (live). */
  deferIndexRows: number;
  concurrency: number;
  batchSize?: number;
}

export interface IngestResult {
  chunks: number;
  /** enable() called → every chunk committed (worker events). */
  writeMs: number;
  /** enable() called → worker.drain() resolved (queue empty and deferred indexes built). */
  totalMs: number;
  /** Duration of the deferred index build, when there was one. */
  indexBuildMs: number | null;
  indexState: string;
  /** CPU per chunk over enable → all chunks committed: this Node process (the worker runs in it), the cluster, the machine. */
  cpu: CpuPerItem;
  /** Worker's own accounting: batches, summed batch wall time, summed provider (embedding) time. */
  batches: number;
  batchMs: number;
  providerMs: number;
}

/** Creates `table (id int PRIMARY KEY, body text)` holding `docs` documents (untimed). */
export async function loadSourceDocuments(
  db: Database,
  table: string,
  docs: number,
  words: number,
): Promise<void> {
  await db.exec(`CREATE TABLE ${table} (id int PRIMARY KEY, body text NOT NULL)`);
  const slice = 2_000;
  for (let start = 0; start < docs; start += slice) {
    const ids = Array.from({ length: Math.min(slice, docs - start) }, (_, i) => start + i + 1);
    await db.query(`INSERT INTO ${table} (id, body) SELECT * FROM unnest($1::int[], $2::text[])`, [
      ids,
      ids.map((id) => documentText(id, words)),
    ]);
  }
  await db.exec(`VACUUM ANALYZE ${table}`);
}

/**
 * Enables the pipeline (which queues the backfill), starts a worker right after it (as `pgembed
 * enable` then `pgembed worker` would), and waits until it has drained. Its start-up is timed; a
 * worker already running would pick the pipeline up at enable's NOTIFY instead (ingest.ts's
 * worker-process phase measures that way).
 */
export async function runIngest(
  db: Database,
  settings: IngestSettings,
  expectedChunks: number,
  dataDir: string | null,
): Promise<IngestResult> {
  const cpuBefore = cpuSnapshot(dataDir);
  const began = now();
  const enabled = await enableDocumentChunking(db, {
    table: settings.table,
    column: 'body',
    provider: 'hash',
    dimensions: DIMENSIONS,
    chunkSize: settings.chunkSize,
    chunkOverlap: settings.chunkOverlap,
    deferIndexRows: settings.deferIndexRows,
  });
  const worker = await startWorker({
    db,
    concurrency: settings.concurrency,
    ...(settings.batchSize ? { batchSize: settings.batchSize } : {}),
    pollIntervalMs: 1_000,
  });
  let inserted = 0;
  let writtenAt = Number.NaN;
  let cpu: CpuPerItem | undefined;
  let indexBuildMs: number | null = null;
  let batches = 0;
  let batchMs = 0;
  let providerMs = 0;
  const errors: string[] = [];
  worker.events.on('batch:written', (event) => {
    inserted += event.chunksInserted;
    batches++;
    batchMs += event.durationMs;
    if (inserted >= expectedChunks && Number.isNaN(writtenAt)) {
      writtenAt = now();
      cpu = cpuPerItem(cpuBefore, cpuSnapshot(dataDir), expectedChunks);
    }
  });
  worker.events.on('provider:called', (event) => {
    providerMs += event.durationMs;
  });
  worker.events.on('index:built', (event) => {
    indexBuildMs = event.durationMs;
  });
  worker.events.on('job:failed', (event) => errors.push(event.message));
  worker.events.on('error', (event) => errors.push(event.message));
  try {
    await worker.drain({ timeoutMs: 30 * 60_000 });
  } finally {
    await worker.stop();
  }
  const finished = now();
  if (errors.length > 0) throw new Error(`the worker reported errors: ${errors.slice(0, 3).join('; ')}`);
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${enabled.chunk_table}`);
  const chunks = rows[0]!.n;
  if (chunks !== expectedChunks) {
    throw new Error(`expected ${expectedChunks} chunks in ${enabled.chunk_table}, found ${chunks}`);
  }
  return {
    chunks,
    writeMs: (Number.isNaN(writtenAt) ? finished : writtenAt) - began,
    totalMs: finished - began,
    indexBuildMs,
    indexState: enabled.index_state,
    cpu: cpu ?? cpuPerItem(cpuBefore, cpuSnapshot(dataDir), expectedChunks),
    batches,
    batchMs,
    providerMs,
  };
}
