/**
 * Freshness: how long after a writer's COMMIT returns are the document's chunks visible to others?
 * One idle worker (concurrency 1, default 5 s poll interval: it is woken by NOTIFY, which is the
 * path measured), `hash` provider at 768 dimensions, live HNSW + GIN indexes, durable cluster.
 *
 * Observer: a statement-level AFTER INSERT trigger added to the chunk table sends
 * `NOTIFY bench_visible, '<doc ids>'`; a second connection LISTENs. A notification is delivered
 * only after the inserting transaction has committed, so its arrival is the moment the chunks became
 * visible, seen without a poll loop. Polling every 1–2 ms would steal CPU from the worker and from
 * PostgreSQL on this 2-core machine, and add up to a poll period of error; LISTEN adds one message.
 * The trigger adds one NOTIFY to each worker write-back, which is the only writer of that table.
 *
 * Baseline (the floor), interleaved in the same run: a chunk row committed directly into the chunk
 * table by the writer connection, timed from sending its INSERT to its notification. That is the
 * least any worker could take to make a chunk visible: one round trip, one durable commit, one
 * notification. The same probe timed from its commit returning (`observerMs` in the JSON, ≈ 0)
 * shows the observer itself adds nothing measurable.
 *
 *   npx tsx bench/freshness.ts [--quick]
 */
import pg from 'pg';
import { enableDocumentChunking } from '../src/pipelines/enable.js';
import { hashEmbedding } from '../src/providers/hash.js';
import { startWorker } from '../src/worker/worker.js';
import {
  documentText,
  isQuick,
  median,
  now,
  openBenchDatabase,
  percentile,
  report,
  sleep,
} from './support/common.js';

const quick = isQuick();
const COMMITS = quick ? 60 : 200;
const SPACING_MS: [number, number] = [20, 50];
const FLOOR_ID_BASE = 10_000_000;
const GOALS = { p50: 50, p99: 250 };
const TIMEOUT_MS = 10_000;

async function main(): Promise<void> {
  const bench = await openBenchDatabase('freshness', { durable: true });
  const writer = new pg.Client({ connectionString: bench.url, application_name: 'bench-writer' });
  const observer = new pg.Client({ connectionString: bench.url, application_name: 'bench-observer' });
  let worker: Awaited<ReturnType<typeof startWorker>> | undefined;
  try {
    await bench.db.exec(`CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)`);
    const enabled = await enableDocumentChunking(bench.db, {
      table: 'notes',
      column: 'body',
      provider: 'hash',
      dimensions: 768,
      chunkSize: 256,
      chunkOverlap: 32,
    });
    await bench.db.exec(
      `CREATE FUNCTION bench_chunks_visible() RETURNS trigger LANGUAGE plpgsql AS $$
       DECLARE ids text;
       BEGIN
         SELECT string_agg(DISTINCT doc_id::text, ',') INTO ids FROM new_rows;
         IF ids IS NOT NULL THEN PERFORM pg_notify('bench_visible', ids); END IF;
         RETURN NULL;
       END $$;
       CREATE TRIGGER bench_visible AFTER INSERT ON ${enabled.chunk_table} REFERENCING NEW TABLE AS new_rows
         FOR EACH STATEMENT EXECUTE FUNCTION bench_chunks_visible();`,
    );

    // commit-returned time per document id, resolved by the observer.
    const waiting = new Map<number, { committedAt: number; resolve: (latency: number) => void }>();
    await observer.connect();
    observer.on('notification', (message) => {
      const at = now();
      for (const id of (message.payload ?? '').split(',')) {
        const entry = waiting.get(Number(id));
        if (!entry) continue;
        waiting.delete(Number(id));
        entry.resolve(at - entry.committedAt);
      }
    });
    await observer.query('LISTEN bench_visible');
    await writer.connect();

    worker = await startWorker({ db: bench.db, concurrency: 1 });
    const idle = new Promise<void>((resolve) => worker!.events.on('worker:idle', () => resolve()));
    await idle;
    let lostWakeups = 0;
    worker.events.on('error', (event) => console.error(`worker error: ${event.message}`));

    const visible = (id: number, committedAt: number) =>
      new Promise<number>((resolve) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          resolve(Number.NaN);
        }, TIMEOUT_MS);
        waiting.set(id, {
          committedAt,
          resolve: (latency) => {
            clearTimeout(timer);
            resolve(latency);
          },
        });
      });

    const floor: number[] = [];
    const observerOnly: number[] = [];
    const pending: Promise<number>[] = [];
    for (let i = 1; i <= COMMITS; i++) {
      // Floor probe: a chunk row committed directly, observed the same way.
      const probeId = FLOOR_ID_BASE + i;
      const vector = `[${hashEmbedding(`probe ${i}`, 768, 'hash-v1').join(',')}]`;
      const probeSql = `INSERT INTO ${enabled.chunk_table}
           (doc_id, chunk_index, content, token_count, start_char, end_char, embedding, model, content_hash)
         VALUES ($1::int, 0, $2::text, 2, 0, length($2::text), $3::vector, 'hash-v1', $2::text)`;
      // Register before sending: the notification may be handled before the INSERT's reply.
      const probeSeen = new Promise<number>((resolve) => {
        waiting.set(probeId, { committedAt: 0, resolve });
      });
      const sent = now();
      await writer.query(probeSql, [probeId, `probe ${i}`, vector]);
      const probeCommitted = now();
      const seenAt = await Promise.race([probeSeen, sleep(TIMEOUT_MS).then(() => Number.NaN)]);
      floor.push(seenAt - sent);
      observerOnly.push(seenAt - probeCommitted);

      await sleep(5);
      await writer.query(`INSERT INTO notes (id, body) VALUES ($1::int, $2::text)`, [
        i,
        documentText(i, 120),
      ]);
      pending.push(visible(i, now()));
      await sleep(SPACING_MS[0] + Math.random() * (SPACING_MS[1] - SPACING_MS[0]));
    }
    const latencies = await Promise.all(pending);
    lostWakeups = latencies.filter((latency) => latency > 1_000).length;
    const missing = latencies.filter((latency) => Number.isNaN(latency)).length;
    const seen = latencies.filter((latency) => !Number.isNaN(latency)).sort((a, b) => a - b);
    const floorSorted = floor.filter((latency) => !Number.isNaN(latency)).sort((a, b) => a - b);

    const p = (sorted: number[], q: number) => percentile(sorted, q);
    const row = (q: 50 | 99) => {
      const value = missing > 0 ? Number.POSITIVE_INFINITY : p(seen, q);
      const base = p(floorSorted, q);
      return {
        metric: `commit → chunks visible, p${q}`,
        pgembed: value,
        baseline: base,
        unit: 'ms',
        // How many bare commits-and-notifications' worth of time the pipeline takes.
        ratio: base > 0 ? value / base : null,
        goal: `≤ ${q === 50 ? GOALS.p50 : GOALS.p99} ms`,
        met: value <= (q === 50 ? GOALS.p50 : GOALS.p99),
      };
    };
    report('freshness', [row(50), row(99)], {
      quick,
      commits: COMMITS,
      spacingMs: SPACING_MS,
      pgembedMs: { p50: p(seen, 50), p90: p(seen, 90), p99: p(seen, 99), max: seen.at(-1), min: seen[0] },
      floorMs: { p50: p(floorSorted, 50), p99: p(floorSorted, 99), max: floorSorted.at(-1) },
      observerMs: { p50: median(observerOnly), max: Math.max(...observerOnly) },
      overOneSecond: lostWakeups,
      neverVisible: missing,
      versions: bench.versions,
    });
  } finally {
    await worker?.stop();
    await writer.end().catch(() => {});
    await observer.end().catch(() => {});
    await bench.close();
  }
}

await main();
