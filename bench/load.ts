/**
 * Load: 4 worker processes drain ~100,000 chunks (10,000 with `--quick`) while 2 client connections
 * keep inserting and updating documents in small transactions. The properties measured are the ones
 * a long-running deployment depends on: worker memory stays flat, `pgembed.queue` and
 * `pgembed.queue_log` do not bloat without bound (autovacuum keeps up), and after the drain the
 * reliability invariant holds (every document's chunks equal chunk(content), correct vectors, no
 * orphans, nothing left processing).
 *
 * Sampled every second: each worker's RSS (`/proc/<pid>/status` VmRSS), heap and index sizes of the
 * two queue tables, queue depth (`pgembed.queue_status`), dead tuples and autovacuum runs.
 *
 *   npx tsx bench/load.ts [--quick]
 */
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { enableDocumentChunking } from '../src/pipelines/enable.js';
import { checkInvariants, type InvariantReport } from '../test/support/invariants.js';
import { exited, spawnWorker } from '../test/support/processes.js';
import { documentText, isQuick, now, openBenchDatabase, sleep, waitFor } from './support/common.js';

const quick = isQuick();
const WORKERS = 4;
const WRITERS = 2;
const BATCH_SIZE = 128;
const DIMENSIONS = 384;
const CHUNK_SIZE = 64;
const CHUNK_OVERLAP = 8;
// 160 words ≈ 210 cl100k tokens ≈ 4 chunks of 64 tokens (overlap 8) per document.
const WORDS = 160;
// Preloaded documents are the backfill; the writers add the rest of the ~100,000 (10,000) chunks.
// Above defer_index_rows (10,000), so the full run writes without HNSW and builds it after the drain.
const PRELOAD_DOCS = quick ? 1_600 : 14_000;
/** Each writer commits one transaction (insert one document, rewrite another) per this interval. */
const WRITE_INTERVAL_MS = quick ? 80 : 40;
const WRITE_MS = quick ? 20_000 : 110_000;
const DRAIN_TIMEOUT_MS = quick ? 60_000 : 200_000;
/** RSS after this long is the "warmed-up" reference; flat means max ≤ 1.3 × that. */
const WARMUP_MS = quick ? 8_000 : 20_000;
const FLAT_FACTOR = 1.3;
const TABLE = 'load_docs';

interface Sample {
  t: number;
  /** Chunks the workers reported written so far (their `batch:written` log lines). */
  chunksInserted: number;
  rssKb: (number | null)[];
  depth: number;
  tables: Record<'queue' | 'queue_log', TableSample>;
}

interface TableSample {
  heap: number;
  indexes: number;
  deadTuples: number;
  autovacuums: number;
  lastAutovacuum: string | null;
}

async function rssKb(pid: number | undefined): Promise<number | null> {
  if (pid === undefined) return null;
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) : null;
  } catch {
    return null; // the process has exited
  }
}

const bench = await openBenchDatabase('load', { durable: true, poolSize: 4 });
const { db, url } = bench;
const workers: ReturnType<typeof spawnWorker>[] = [];
try {
  await db.exec(`CREATE TABLE ${TABLE} (id int PRIMARY KEY, body text NOT NULL)`);
  for (let start = 0; start < PRELOAD_DOCS; start += 2_000) {
    const ids = Array.from({ length: Math.min(2_000, PRELOAD_DOCS - start) }, (_, i) => start + i + 1);
    await db.query(`INSERT INTO ${TABLE} (id, body) SELECT * FROM unnest($1::int[], $2::text[])`, [
      ids,
      ids.map((id) => documentText(id, WORDS)),
    ]);
  }
  await db.exec(`VACUUM ANALYZE ${TABLE}`);
  const enabled = await enableDocumentChunking(db, {
    table: TABLE,
    column: 'body',
    provider: 'hash',
    dimensions: DIMENSIONS,
    chunkSize: CHUNK_SIZE,
    chunkOverlap: CHUNK_OVERLAP,
  });

  let chunksInserted = 0;
  const sampleOnce = async (t: number): Promise<Sample> => {
    const { rows } = await db.query<{
      relname: 'queue' | 'queue_log';
      heap: string;
      indexes: string;
      dead: string;
      autovacuums: string;
      last_autovacuum: string | null;
      depth: string | null;
    }>(
      `SELECT s.relname, pg_relation_size(s.relid) AS heap, pg_indexes_size(s.relid) AS indexes,
              s.n_dead_tup AS dead, s.autovacuum_count AS autovacuums,
              to_char(s.last_autovacuum, 'HH24:MI:SS') AS last_autovacuum,
              (SELECT pending + processing FROM pgembed.queue_status WHERE pipeline = $1) AS depth
       FROM pg_stat_user_tables s
       WHERE s.schemaname = 'pgembed' AND s.relname IN ('queue', 'queue_log')`,
      [enabled.pipeline],
    );
    const tables = {} as Sample['tables'];
    for (const row of rows) {
      tables[row.relname] = {
        heap: Number(row.heap),
        indexes: Number(row.indexes),
        deadTuples: Number(row.dead),
        autovacuums: Number(row.autovacuums),
        lastAutovacuum: row.last_autovacuum,
      };
    }
    return {
      t,
      chunksInserted,
      rssKb: await Promise.all(workers.map((w) => rssKb(w.pid))),
      depth: Number(rows[0]?.depth ?? 0),
      tables,
    };
  };

  const began = now();
  const samples: Sample[] = [await sampleOnce(0)];

  // Workers: count what they write from their JSON log lines (batch:written), and keep errors.
  let batches = 0;
  let indexBuiltMs: number | null = null;
  const errors: string[] = [];
  for (let i = 0; i < WORKERS; i++) {
    const child = spawnWorker(['--database-url', url, '--batch-size', String(BATCH_SIZE)]);
    let pending = '';
    child.stderr?.on('data', (data: Buffer) => {
      pending += data.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        const event = JSON.parse(line) as { event: string; chunksInserted?: number; message?: string };
        if (event.event === 'batch:written') {
          chunksInserted += event.chunksInserted ?? 0;
          batches++;
        } else if (event.event === 'index:built') indexBuiltMs = now() - began;
        else if (event.event === 'error' || event.event === 'job:failed') errors.push(event.message ?? line);
      }
    });
    workers.push(child);
  }

  let sampling = true;
  const sampler = (async () => {
    for (let tick = 1; sampling; tick++) {
      await sleep(Math.max(0, began + tick * 1_000 - now()));
      samples.push(await sampleOnce(now() - began));
    }
  })();

  // Writers: each transaction inserts one new document and rewrites one existing one, paced.
  let nextId = PRELOAD_DOCS;
  let transactions = 0;
  const writeUntil = began + WRITE_MS;
  const writer = async (seed: number) => {
    const client = new pg.Client({ connectionString: url, application_name: 'bench-load-writer' });
    await client.connect();
    let x = seed;
    try {
      while (now() < writeUntil) {
        const started = now();
        const id = ++nextId;
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        const target = 1 + (x % id);
        await client.query('BEGIN');
        await client.query(`INSERT INTO ${TABLE} (id, body) VALUES ($1, $2)`, [id, documentText(id, WORDS)]);
        await client.query(`UPDATE ${TABLE} SET body = $2 WHERE id = $1`, [
          target,
          documentText(1_000_000 + x, WORDS),
        ]);
        await client.query('COMMIT');
        transactions++;
        await sleep(Math.max(0, WRITE_INTERVAL_MS - (now() - started)));
      }
    } finally {
      await client.end();
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, (_, i) => writer(i + 1)));
  const writersStoppedMs = now() - began;

  let drainedMs = Number.NaN;
  await waitFor(
    'the queue to drain and the deferred indexes to be built',
    async () => {
      const { rows } = await db.query<{ depth: number; index_state: string }>(
        `SELECT (pending + processing)::int AS depth, index_state FROM pgembed.queue_status WHERE pipeline = $1`,
        [enabled.pipeline],
      );
      if (rows[0]!.depth === 0 && Number.isNaN(drainedMs)) drainedMs = now() - began;
      return rows[0]!.depth === 0 && rows[0]!.index_state === 'live';
    },
    DRAIN_TIMEOUT_MS,
    200,
  );
  const doneMs = now() - began;
  sampling = false;
  await sampler;
  samples.push(await sampleOnce(now() - began));

  for (const child of workers) child.kill('SIGTERM');
  await Promise.all(workers.map((child) => exited(child)));

  const invariantBegan = now();
  const invariant: InvariantReport = await checkInvariants(db, enabled.pipeline);
  const invariantMs = now() - invariantBegan;
  const { rows: counts } = await db.query<{ docs: number; chunks: number }>(
    `SELECT (SELECT count(*)::int FROM ${TABLE}) AS docs, (SELECT count(*)::int FROM ${enabled.chunk_table}) AS chunks`,
  );
  const { docs, chunks } = counts[0]!;

  const warm = samples.find((s) => s.t >= WARMUP_MS) ?? samples.at(-1)!;
  const rss = workers.map((_, i) => {
    const values = samples.map((s) => s.rssKb[i]).filter((v): v is number => v !== null && v !== undefined);
    const first = values[0] ?? Number.NaN;
    const max = Math.max(...values);
    const last = values.at(-1) ?? Number.NaN;
    const warmed = warm.rssKb[i] ?? first;
    return { first, warm: warmed, max, last, flat: max <= FLAT_FACTOR * warmed };
  });
  const tableStats = (name: 'queue' | 'queue_log') => {
    const series = samples.map((s) => s.tables[name]);
    const pick = (f: (t: TableSample) => number) => ({
      before: f(series[0]!),
      after: f(series.at(-1)!),
      max: Math.max(...series.map(f)),
    });
    return {
      heap: pick((t) => t.heap),
      indexes: pick((t) => t.indexes),
      deadTuplesMax: Math.max(...series.map((t) => t.deadTuples)),
      autovacuums: series.at(-1)!.autovacuums - series[0]!.autovacuums,
      lastAutovacuum: series.at(-1)!.lastAutovacuum,
    };
  };
  // Best 5-second window of the sampled cumulative count: the drain rate while the backlog lasted
  // (the overall rate is capped by how fast the writers add work once the backlog is gone).
  let peakRate = 0;
  for (let i = 5; i < samples.length; i++) {
    const a = samples[i - 5]!;
    const b = samples[i]!;
    peakRate = Math.max(peakRate, (b.chunksInserted - a.chunksInserted) / ((b.t - a.t) / 1000));
  }
  const queue = tableStats('queue');
  const queueLog = tableStats('queue_log');
  const invariantOk =
    invariant.stale.length === 0 &&
    invariant.orphans === 0 &&
    invariant.processing === 0 &&
    invariant.wrongVectors === 0 &&
    errors.length === 0;

  const kb = (bytes: number) => `${Math.round(bytes / 1024)} kB`;
  const mb = (kib: number) => `${(kib / 1024).toFixed(0)} MB`;
  const sizes = (s: { before: number; after: number; max: number }) =>
    `${kb(s.before)} / ${kb(s.after)} / ${kb(s.max)}`;
  const rowsOut: [string, string][] = [
    ['documents (final)', String(docs)],
    ['chunks (final)', String(chunks)],
    ['chunks inserted by workers', `${chunksInserted} in ${batches} batches`],
    ['writer transactions', `${transactions} (insert 1 + update 1 each), ${WRITERS} connections`],
    ['chunks/s (inserted, start → queue empty)', (chunksInserted / (drainedMs / 1000)).toFixed(0)],
    [
      'writers stopped / queue empty / indexes live',
      `${(writersStoppedMs / 1000).toFixed(1)} s / ${(drainedMs / 1000).toFixed(1)} s / ${(doneMs / 1000).toFixed(1)} s`,
    ],
    ...rss.map((r, i): [string, string] => [
      `worker ${i + 1} RSS first / warm / max / last`,
      `${mb(r.first)} / ${mb(r.warm)} / ${mb(r.max)} / ${mb(r.last)} ${r.flat ? 'flat' : 'GROWING'}`,
    ]),
    ['queue heap before / after / max', sizes(queue.heap)],
    ['queue indexes before / after / max', sizes(queue.indexes)],
    ['queue_log heap before / after / max', sizes(queueLog.heap)],
    ['queue_log indexes before / after / max', sizes(queueLog.indexes)],
    ['max queue depth', String(Math.max(...samples.map((s) => s.depth)))],
    ['max dead tuples queue / queue_log', `${queue.deadTuplesMax} / ${queueLog.deadTuplesMax}`],
    [
      'autovacuum runs queue / queue_log (last)',
      `${queue.autovacuums} (${queue.lastAutovacuum ?? '—'}) / ${queueLog.autovacuums} (${queueLog.lastAutovacuum ?? '—'})`,
    ],
    [
      'invariant',
      `${invariantOk ? 'holds' : 'BROKEN'}: ${invariant.stale.length} stale, ${invariant.orphans} orphans, ${invariant.processing} processing, ${invariant.wrongVectors} wrong vectors, ${errors.length} worker errors (checked in ${(invariantMs / 1000).toFixed(1)} s)`,
    ],
  ];
  // Every 10th sample: how depth, memory and table sizes moved over the run.
  const series = samples
    .filter((_, i) => i % 10 === 0 || i === samples.length - 1)
    .map((x) => ({
      s: Math.round(x.t / 1000),
      depth: x.depth,
      chunks: x.chunksInserted,
      rssMb: x.rssKb.map((v) => (v === null || v === undefined ? null : Math.round(v / 1024))),
      queueKb: Math.round((x.tables.queue.heap + x.tables.queue.indexes) / 1024),
      logKb: Math.round((x.tables.queue_log.heap + x.tables.queue_log.indexes) / 1024),
      dead: x.tables.queue.deadTuples + x.tables.queue_log.deadTuples,
    }));
  console.log('\n   s   depth   chunks  worker RSS MB        queue kB  log kB  dead tuples');
  for (const x of series) {
    console.log(
      `${String(x.s).padStart(4)}  ${String(x.depth).padStart(6)}  ${String(x.chunks).padStart(7)}  ${x.rssMb.map((v) => String(v ?? '-').padStart(4)).join(' ')}  ${String(x.queueKb).padStart(8)}  ${String(x.logKb).padStart(6)}  ${String(x.dead).padStart(11)}`,
    );
  }
  const width = Math.max(...rowsOut.map(([k]) => k.length));
  console.log(`\n== load${quick ? ' (quick)' : ''}: ${WORKERS} workers while ${WRITERS} clients write ==`);
  for (const [k, v] of rowsOut) console.log(`${k.padEnd(width)}  ${v}`);
  console.log(
    JSON.stringify({
      bench: 'load',
      quick,
      versions: bench.versions,
      documents: docs,
      chunks,
      chunksInserted,
      batches,
      transactions,
      chunksPerSecond: chunksInserted / (drainedMs / 1000),
      peakChunksPerSecond: peakRate,
      writersStoppedMs,
      drainedMs,
      doneMs,
      indexBuiltMs,
      workerRssKb: rss,
      queue,
      queueLog,
      maxDepth: Math.max(...samples.map((s) => s.depth)),
      samples: samples.length,
      series,
      invariant: {
        ok: invariantOk,
        documents: invariant.documents,
        stale: invariant.stale.length,
        orphans: invariant.orphans,
        processing: invariant.processing,
        wrongVectors: invariant.wrongVectors,
        workerErrors: errors.slice(0, 3),
      },
    }),
  );
  if (!invariantOk) process.exitCode = 1;
} finally {
  for (const child of workers)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await bench.close();
}
