/**
 * Fault injection against a private PostgreSQL cluster with worker processes: restarts of the
 * server mid-run, workers killed with SIGKILL at random points, and a storm of concurrent updates.
 * After each, the invariant must hold: every committed document's chunks are exactly chunk(content)
 * with the right vectors, nothing is orphaned, nothing is left processing.
 */
import { randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { createPostgresDatabase } from '../../src/db/postgres.js';
import type { Database } from '../../src/db/types.js';
import { enableDocumentChunking } from '../../src/pipelines/enable.js';
import { checkInvariants } from '../support/invariants.js';
import { type Cluster, createTestDatabase, startCluster, type TestDatabase } from '../support/postgres.js';
import { exited, spawnWorker, waitFor } from '../support/processes.js';

const LEASE_MS = '1500';

function text(i: number, version: number): string {
  return `document ${i} version ${version}: ${'the queue survives crashes and restarts '.repeat(8 + (i % 5))}`;
}

/** One line per scenario in the test output: what was injected, and what was lost, duplicated or stale. */
function summary(
  scenario: string,
  faults: string,
  report: Awaited<ReturnType<typeof checkInvariants>>,
): void {
  process.stdout.write(
    `[reliability] ${scenario}: documents=${report.documents} ${faults} lost=${report.lost} duplicated=${report.duplicated} stale=${report.stale.length} wrong_vectors=${report.wrongVectors} orphans=${report.orphans}\n`,
  );
}

describe('fault injection on a private PostgreSQL cluster', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    // Durable: with synchronous_commit off, an immediate shutdown loses the last commits, ours and the test's.
    cluster = await startCluster({ ignoreExternal: true, durable: true });
  });
  afterAll(async () => cluster?.stop());

  async function setup(name: string): Promise<{ target: TestDatabase; db: Database }> {
    const target = await createTestDatabase(cluster.adminUrl, name);
    const db = createPostgresDatabase({ connectionString: target.url });
    await migrate(db);
    await db.exec(`CREATE TABLE docs (id int PRIMARY KEY, body text)`);
    await enableDocumentChunking(db, {
      table: 'docs',
      column: 'body',
      provider: 'hash',
      dimensions: 32,
      chunkSize: 40,
      chunkOverlap: 5,
    });
    return { target, db };
  }

  async function drained(db: Database): Promise<boolean> {
    const { rows } = await db.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM pgembed.queue)::int + (SELECT count(*) FROM pgembed.queue_log)::int AS n`,
    );
    return rows[0]!.n === 0;
  }

  /** Retries a statement across a server restart (the client's own writes must survive it too). */
  async function persist<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (error) {
        if (attempt > 50) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  it('workers ride out fast and immediate server restarts without being restarted', async () => {
    const { target, db } = await setup('restarts');
    const workers = [0, 1].map(() =>
      spawnWorker(['--database-url', target.url, '--lease-ms', LEASE_MS, '--poll-ms', '500']),
    );
    try {
      await waitFor(
        async () => (await db.query(`SELECT 1 FROM pgembed.workers`)).rowCount === 2,
        30_000,
        'workers to register',
      );
      let inserted = 0;
      for (const mode of ['fast', 'immediate', 'fast', 'immediate'] as const) {
        for (let b = 0; b < 5; b++) {
          const from = inserted + 1;
          await persist(() =>
            db.query(
              `INSERT INTO docs SELECT i, $3::text || i FROM generate_series($1::int, $2::int) i ON CONFLICT DO NOTHING`,
              [from, from + 49, text(0, mode === 'fast' ? 1 : 2)],
            ),
          );
          inserted += 50;
        }
        await new Promise((resolve) => setTimeout(resolve, randomInt(50, 400)));
        await cluster.restart(mode);
      }
      await waitFor(() => persist(() => drained(db)), 90_000, 'the queue to drain after the restarts');
      const report = await checkInvariants(db, 'docs');
      summary('server restarts', `faults=4 restarts (2 fast, 2 immediate)`, report);
      expect(report, JSON.stringify(report).slice(0, 2000)).toMatchObject({
        lost: 0,
        duplicated: 0,
        documents: inserted,
        stale: [],
        wrongVectors: 0,
        orphans: 0,
        processing: 0,
      });
      for (const worker of workers) expect(worker.exitCode).toBe(null);
    } catch (error) {
      // What the workers said is the first thing to read when this fails.
      for (const worker of workers) process.stderr.write(`${worker.output.join('').slice(-3000)}\n---\n`);
      throw error;
    } finally {
      for (const worker of workers) worker.kill('SIGTERM');
      await Promise.all(workers.map(exited));
      await db.close();
      await target.drop();
    }
  }, 180_000);

  it('SIGKILL at random points during a running ingest loses, duplicates and corrupts nothing', async () => {
    const { target, db } = await setup('kills');
    // CI: 100 kill points over 10,000 documents (~3 min here); `npm run test:soak`: 300 over 30,000.
    const KILLS = process.env.PGEMBED_SOAK ? 300 : 100;
    const survivor = spawnWorker(['--database-url', target.url, '--lease-ms', LEASE_MS, '--batch-size', '8']);
    try {
      let next = 1;
      let midBatch = 0;
      for (let k = 0; k < KILLS; k++) {
        const victim = spawnWorker([
          '--database-url',
          target.url,
          '--lease-ms',
          LEASE_MS,
          '--batch-size',
          '8',
        ]);
        // The round's writes wait for the victim to be up, or the survivor would take them all.
        await waitFor(
          async () =>
            (await db.query(`SELECT 1 FROM pgembed.workers WHERE pid = $1::int`, [victim.pid])).rowCount ===
            1,
          60_000,
          'the victim to start',
        );
        await db.query(`INSERT INTO docs SELECT i, $3::text || i FROM generate_series($1::int, $2::int) i`, [
          next,
          next + 99,
          text(k, 1),
        ]);
        await db.query(`UPDATE docs SET body = body || ' edited' WHERE id % 7 = $1::int`, [k % 7]);
        next += 100;
        // Under load a start-up takes seconds: a kill on a timer would mostly land before the first
        // claim. Kill once the victim holds jobs, somewhere in chunking, embedding or write-back (or
        // after 20 s without a claim, which the mid-batch count below reports).
        const holds = async () =>
          (
            await db.query(
              `SELECT 1 FROM pgembed.queue q JOIN pgembed.workers w ON w.id = q.worker_id
               WHERE q.status = 'processing' AND w.pid = $1::int LIMIT 1`,
              [victim.pid],
            )
          ).rowCount === 1;
        await waitFor(holds, 20_000, 'the victim to claim jobs').catch(() => {});
        await new Promise((resolve) => setTimeout(resolve, randomInt(0, 40)));
        victim.kill('SIGKILL');
        await exited(victim);
        // Its jobs still carry its lease after the kill: it died mid-batch.
        if (await holds()) midBatch++;
      }
      await waitFor(() => drained(db), 180_000, 'the queue to drain after the kills');
      const report = await checkInvariants(db, 'docs');
      summary('sigkill', `faults=${KILLS} SIGKILLs (${midBatch} mid-batch)`, report);
      // The scenario is what its title says only when kills really land inside batches.
      expect(midBatch).toBeGreaterThanOrEqual(KILLS / 2);
      expect(report, JSON.stringify(report).slice(0, 2000)).toMatchObject({
        lost: 0,
        duplicated: 0,
        documents: KILLS * 100,
        stale: [],
        wrongVectors: 0,
        orphans: 0,
        processing: 0,
      });
      const { rows } = await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pgembed.queue WHERE status = 'failed'`,
      );
      expect(rows[0]!.n).toBe(0);
    } finally {
      survivor.kill('SIGTERM');
      await exited(survivor);
      await db.close();
      await target.drop();
    }
  }, 1_800_000);

  it('a storm of concurrent updates ends with every document chunked at its final content', async () => {
    const { target, db } = await setup('storm');
    await db.query(`INSERT INTO docs SELECT i, $1::text || i FROM generate_series(1, 100) i`, [text(0, 0)]);
    // Four worker processes.
    const workers = [0, 1, 2, 3].map(() =>
      spawnWorker(['--database-url', target.url, '--batch-size', '5', '--lease-ms', LEASE_MS]),
    );
    const clients = Array.from({ length: 8 }, () =>
      createPostgresDatabase({ connectionString: target.url, max: 1 }),
    );
    try {
      await Promise.all(
        clients.map(async (client, c) => {
          for (let u = 0; u < 125; u++) {
            const id = randomInt(1, 101);
            await client.query(`UPDATE docs SET body = $2::text WHERE id = $1::int`, [
              id,
              text(id, c * 1000 + u),
            ]);
          }
        }),
      );
      await waitFor(() => drained(db), 90_000, 'the queue to drain after the storm');
      const report = await checkInvariants(db, 'docs');
      summary('update storm', `faults=1000 concurrent updates by 8 clients, 4 workers`, report);
      expect(report, JSON.stringify(report).slice(0, 2000)).toMatchObject({
        lost: 0,
        duplicated: 0,
        documents: 100,
        stale: [],
        wrongVectors: 0,
        orphans: 0,
        processing: 0,
      });
    } finally {
      await Promise.all(clients.map((client) => client.close()));
      for (const worker of workers) worker.kill('SIGTERM');
      await Promise.all(workers.map(exited));
      await db.close();
      await target.drop();
    }
  }, 240_000);
});
