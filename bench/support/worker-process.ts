/**
 * A pgembed worker in its own process, for benchmarks whose measuring loop must not share a
 * JavaScript thread with the worker's chunking and hashing (that would stall the measurement, not
 * the database). Prints `ready` once started, `idle` each time it goes idle and `index-built <ms>`
 * after building a pipeline's deferred indexes; stops on SIGTERM.
 *
 *   node --import tsx bench/support/worker-process.ts <database url> [concurrency]
 */
import { createPostgresDatabase } from '../../src/db/postgres.js';
import { startWorker } from '../../src/worker/worker.js';

const [url, concurrency = '1'] = process.argv.slice(2);
if (!url) throw new Error('usage: worker-process.ts <database url> [concurrency]');
const db = createPostgresDatabase({
  connectionString: url,
  max: Number(concurrency) + 2,
  applicationName: 'bench-worker',
});
const worker = await startWorker({ db, concurrency: Number(concurrency) });
worker.events.on('worker:idle', () => process.stdout.write('idle\n'));
worker.events.on('index:built', (event) =>
  process.stdout.write(`index-built ${event.durationMs.toFixed(1)}\n`),
);
worker.events.on('error', (event) => process.stderr.write(`worker error: ${event.message}\n`));
process.stdout.write('ready\n');
process.once('SIGTERM', async () => {
  await worker.stop();
  await db.close();
  process.exit(0);
});
