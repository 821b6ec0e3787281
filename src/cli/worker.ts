import type { Command } from 'commander';
import { WorkerEvents } from '../worker/events.js';
import { startWorker } from '../worker/worker.js';
import { fail, type GlobalOptions, openDatabase, parseInteger, withDatabaseOptions } from './common.js';

/** Errors that mean "the server is not up yet" (starting, restarting, failing over). */
const NOT_READY = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', '57P03', '08001', '08006']);
/** A worker started beside its database (compose, systemd) waits this long for it. */
const READY_TIMEOUT_MS = 60_000;

async function openDatabaseWhenReady(options: GlobalOptions) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (let delay = 100; ; delay = Math.min(delay * 2, 2_000)) {
    try {
      return await openDatabase(options, 'check');
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (!code || !NOT_READY.has(code) || Date.now() + delay > deadline) throw error;
      process.stderr.write(
        `${JSON.stringify({ time: new Date().toISOString(), level: 'warn', event: 'database:waiting', code })}\n`,
      );
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

import { logEvents } from './log.js';

interface WorkerCliOptions extends GlobalOptions {
  concurrency: number;
  batchSize?: number;
  pipeline?: string[];
  leaseMs?: number;
  pollMs?: number;
  exitWhenDrained?: boolean;
}

export function registerWorker(program: Command): void {
  withDatabaseOptions(
    program
      .command('worker')
      .description('process the queue: chunk, embed and write back, until stopped (SIGTERM/SIGINT)')
      .option('--concurrency <n>', 'batches processed at once', parseInteger('--concurrency', 1, 64), 1)
      .option('--batch-size <n>', 'documents per batch', parseInteger('--batch-size', 1, 2048))
      .option('--pipeline <name...>', 'serve only these pipelines (default: all)')
      .option(
        '--lease-ms <ms>',
        "job lease; a crashed worker's jobs return after it",
        parseInteger('--lease-ms', 500, 3_600_000),
      )
      .option(
        '--poll-ms <ms>',
        'fallback poll interval when no NOTIFY arrives',
        parseInteger('--poll-ms', 10, 3_600_000),
      )
      .option('--exit-when-drained', 'exit once the queue is empty')
      .addHelpText(
        'after',
        `
Logs are JSON lines on stderr. The first SIGTERM/SIGINT finishes or hands back work in flight; a
second one exits at once (jobs return after their lease expires).

A worker never installs or upgrades the pgembed schema: it needs only a role in pgembed_worker
(SELECT pgembed.grant_worker_role() as the owner, then CREATE ROLE embedder LOGIN IN ROLE
pgembed_worker), and exits 1 when the schema is missing, older or newer than this pgembed (the
owner runs \`pgembed init\` with this version first).

Examples:
  $ pgembed worker
  $ DATABASE_URL=postgres://embedder@localhost/app pgembed worker --concurrency 4
  $ pgembed worker --exit-when-drained --json`,
      ),
  ).action(async (options: WorkerCliOptions) => {
    try {
      const db = await openDatabaseWhenReady(options);
      // Listeners first: the events of start-up (worker:started) are logged too.
      const events = new WorkerEvents();
      logEvents(events);
      const worker = await startWorker({
        db,
        events,
        concurrency: options.concurrency,
        batchSize: options.batchSize,
        pipelines: options.pipeline,
        leaseMs: options.leaseMs,
        pollIntervalMs: options.pollMs,
      });
      let signals = 0;
      const shutdown = async (signal: string) => {
        signals++;
        if (signals > 1) {
          process.stderr.write(`${JSON.stringify({ level: 'warn', event: 'worker:forced_exit', signal })}\n`);
          process.exit(130);
        }
        await worker.stop();
        await db.close();
        process.exit(0);
      };
      process.on('SIGTERM', () => void shutdown('SIGTERM'));
      process.on('SIGINT', () => void shutdown('SIGINT'));
      if (options.exitWhenDrained) {
        await worker.drain({ timeoutMs: 24 * 3600_000 });
        await worker.stop();
        output(worker.stats, options.json);
        await db.close();
      }
    } catch (error) {
      fail(error, options.json);
    }
  });
}

function output(stats: object, json = false): void {
  process.stdout.write(json ? `${JSON.stringify(stats)}\n` : `drained: ${JSON.stringify(stats)}\n`);
}
