/**
 * The write tax: what pgembed's triggers cost the application's writers. Four clients, each doing
 * single-row autocommit INSERTs (durable cluster: every commit is flushed), for PHASE_MS per phase:
 *   A — into `plain`, a table with no pipeline (baseline);
 *   B — into `articles`, the same shape with a pipeline enabled (statement triggers enqueue every
 *       row) and a worker running in its own process. At the start of the phase the worker is idle
 *       and its wake-up flag armed, the steady state: the first insert NOTIFYs, the worker disarms
 *       and then embeds what the writers insert while they insert it (sharing this 2-core machine);
 *   C — into `articles` with no worker running and the flag disarmed: the triggers alone.
 * Phases alternate A B C A B C so drift on this shared machine hits all three alike. After B and C,
 * untimed, the worker is stopped and the jobs left are deleted: draining them into the live HNSW
 * index would take minutes and measure nothing. Tax = 1 − B/A (goal ≤ 10 %). A LISTEN connection
 * counts the wake-up NOTIFYs the writers' transactions sent.
 *
 *   npx tsx bench/write-tax.ts [--quick]
 */
import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { enableDocumentChunking } from '../src/pipelines/enable.js';
import { documentText, isQuick, now, openBenchDatabase, report, sleep, waitFor } from './support/common.js';
import { startWorkerProcess, stopWorkerProcess } from './support/workers.js';

const quick = isQuick();
const PHASE_MS = quick ? 3_000 : 10_000;
const ROUNDS = 2;
const CLIENTS = 4;
const GOAL_TAX = 0.1;

const BODIES = Array.from({ length: 512 }, (_, i) => documentText(i + 1, 120));

/** CLIENTS connections inserting as fast as they can into `table` for PHASE_MS; inserts/s. */
async function insertPhase(clients: pg.Client[], table: string): Promise<number> {
  const began = now();
  const end = began + PHASE_MS;
  let inserts = 0;
  await Promise.all(
    clients.map(async (client, c) => {
      let i = c;
      while (now() < end) {
        await client.query(`INSERT INTO ${table} (body) VALUES ($1::text)`, [BODIES[i % BODIES.length]]);
        inserts++;
        i += CLIENTS;
      }
    }),
  );
  return inserts / ((now() - began) / 1000);
}

async function main(): Promise<void> {
  const bench = await openBenchDatabase('write_tax', { durable: true });
  const clients = Array.from(
    { length: CLIENTS },
    () => new pg.Client({ connectionString: bench.url, application_name: 'bench-writer' }),
  );
  const listener = new pg.Client({ connectionString: bench.url, application_name: 'bench-notify-counter' });
  let notifies = 0;
  let worker: ChildProcess | undefined;
  try {
    for (const table of ['plain', 'articles']) {
      await bench.db.exec(
        `CREATE TABLE ${table} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text NOT NULL)`,
      );
    }
    await enableDocumentChunking(bench.db, {
      table: 'articles',
      column: 'body',
      provider: 'hash',
      dimensions: 768,
      chunkSize: 256,
      chunkOverlap: 32,
    });
    await Promise.all(clients.map((client) => client.connect()));
    await listener.connect();
    listener.on('notification', () => {
      notifies++;
    });
    await listener.query('LISTEN pgembed_wake');
    const queueEmpty = async () => {
      const { rows } = await bench.db.query<{ n: number }>(
        `SELECT pending::int + processing::int AS n FROM pgembed.queue_status`,
      );
      return rows[0]!.n === 0;
    };

    const rates: Record<'A' | 'B' | 'C', number[]> = { A: [], B: [], C: [] };
    const notifiesByPhase = { A: 0, B: 0, C: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      for (const phase of ['A', 'B', 'C'] as const) {
        if (phase === 'B') {
          worker = await startWorkerProcess(bench.url, { until: 'idle' });
          await waitFor('an empty queue before phase B', queueEmpty, 60_000);
          await sleep(200);
        }
        if (phase === 'C') await bench.db.query(`UPDATE pgembed.wakeups SET armed = false`);
        await bench.db.exec('CHECKPOINT');
        const notifiesBefore = notifies;
        rates[phase].push(await insertPhase(clients, phase === 'A' ? 'plain' : 'articles'));
        notifiesByPhase[phase] += notifies - notifiesBefore;
        if (worker) {
          await stopWorkerProcess(worker);
          worker = undefined;
        }
        if (phase !== 'A') await bench.db.exec(`DELETE FROM pgembed.queue; DELETE FROM pgembed.queue_log`);
        console.error(`round ${round + 1} phase ${phase}: ${rates[phase].at(-1)!.toFixed(0)} inserts/s`);
      }
    }

    const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
    const a = mean(rates.A);
    const b = mean(rates.B);
    const c = mean(rates.C);
    report(
      'write-tax',
      [
        {
          metric: 'inserts, triggers + worker running (B) vs none (A)',
          pgembed: b,
          baseline: a,
          unit: 'inserts/s',
          ratio: b / a,
          goal: `tax ≤ ${GOAL_TAX * 100} %`,
          met: 1 - b / a <= GOAL_TAX,
        },
        {
          metric: 'inserts, triggers only, no worker (C) vs none (A)',
          pgembed: c,
          baseline: a,
          unit: 'inserts/s',
          ratio: c / a,
          goal: 'info',
          met: null,
        },
      ],
      {
        quick,
        clients: CLIENTS,
        phaseMs: PHASE_MS,
        phases: rates,
        taxPercent: { withWorker: (1 - b / a) * 100, triggersOnly: (1 - c / a) * 100 },
        // Wake-up NOTIFYs the writers' transactions sent, per phase (summed over rounds).
        notifies: notifiesByPhase,
        versions: bench.versions,
      },
    );
  } finally {
    if (worker) await stopWorkerProcess(worker);
    await Promise.all([...clients, listener].map((client) => client.end().catch(() => {})));
    await bench.close();
  }
}

await main();
