/**
 * What every benchmark shares: a throw-away cluster with pgembed installed, the `--quick` switch,
 * deterministic documents, small statistics and the report format (a table for people, then one
 * JSON line for machines).
 *
 * Every benchmark measures its baseline in the same run as pgembed and reports the ratio: this
 * machine is shared and noisy, so absolute numbers from different runs are not comparable.
 */

import { migrate } from '../../src/db/migrate.js';
import { createPostgresDatabase } from '../../src/db/postgres.js';
import type { Database } from '../../src/db/types.js';
import { createTestDatabase, startCluster } from '../../test/support/postgres.js';

/** `--quick` on the command line or `PGEMBED_BENCH_QUICK=1`: smaller sizes, same code paths. */
export function isQuick(): boolean {
  return process.argv.includes('--quick') || process.env.PGEMBED_BENCH_QUICK === '1';
}

/** A positive integer option on the command line (`--docs 12000`), or `fallback` when absent. */
export function integerArgument(flag: string, fallback: number): number {
  const at = process.argv.indexOf(flag);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${flag} needs a positive integer, e.g. ${flag} ${fallback}`);
  return value;
}

export interface BenchDatabase {
  url: string;
  /** The cluster's data directory, for reading its processes' CPU time (support/cpu.ts). */
  dataDir: string | null;
  db: Database;
  /** PostgreSQL and pgvector versions, for the report. */
  versions: { postgres: string; pgvector: string };
  close(): Promise<void>;
}

/**
 * A private PostgreSQL 15 + pgvector cluster with one database holding the pgembed schema.
 * `durable`: fsync, synchronous_commit and full_page_writes on, so commits cost what they cost in
 * production (the ingest and write-path benchmarks are about exactly that).
 */
export async function openBenchDatabase(
  name: string,
  options: { durable: boolean; poolSize?: number },
): Promise<BenchDatabase> {
  const cluster = await startCluster({ durable: options.durable });
  const database = await createTestDatabase(cluster.adminUrl, `bench_${name}`);
  const db = createPostgresDatabase({
    connectionString: database.url,
    max: options.poolSize ?? 10,
    applicationName: 'pgembed-bench',
  });
  await migrate(db);
  const { rows } = await db.query<{ postgres: string; pgvector: string }>(
    `SELECT current_setting('server_version') AS postgres,
            (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS pgvector`,
  );
  return {
    url: database.url,
    dataDir: cluster.dataDir,
    db,
    versions: rows[0]!,
    async close() {
      await db.close().catch(() => {});
      await database.drop().catch(() => {});
      await cluster.stop();
    },
  };
}

const WORDS = [
  'vector',
  'index',
  'postgres',
  'chunk',
  'embedding',
  'query',
  'table',
  'worker',
  'lease',
  'batch',
  'commit',
  'replica',
  'latency',
  'throughput',
  'document',
  'search',
  'model',
  'token',
  'backfill',
  'trigger',
  'refund',
  'invoice',
  'customer',
  'shipping',
  'warranty',
  'account',
  'password',
  'billing',
  'support',
  'order',
];

/**
 * A deterministic English-like document of `words` words (≈ 1.3 cl100k tokens per word here),
 * different for every `seed`, so no two chunks share a text and nothing is deduplicated.
 */
export function documentText(seed: number, words: number): string {
  const out: string[] = [];
  let x = (seed * 2654435761 + 1) >>> 0;
  for (let w = 0; w < words; w++) {
    x = (Math.imul(x ^ (x >>> 15), 2246822507) + w) >>> 0;
    const word = WORDS[x % WORDS.length]!;
    out.push(w % 17 === 0 ? `${word}${seed % 1000}.` : word);
  }
  return `Document ${seed}: ${out.join(' ')}`;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` every `everyMs` until it returns true; throws after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  everyMs = 50,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export interface ReportRow {
  metric: string;
  pgembed: number;
  baseline: number | null;
  unit: string;
  /** pgembed / baseline, or the inverse, whichever the goal is phrased in; null when none. */
  ratio: number | null;
  goal: string;
  met: boolean | null;
}

/** Prints the table, then the JSON line (always the last line of the benchmark's output). */
export function report(bench: string, rows: ReportRow[], extra: Record<string, unknown>): void {
  const fmt = (value: number | null, digits = 1) =>
    value === null ? '—' : Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(digits);
  const table = rows.map((row) => [
    row.metric,
    `${fmt(row.pgembed)} ${row.unit}`,
    row.baseline === null ? '—' : `${fmt(row.baseline)} ${row.unit}`,
    row.ratio === null ? '—' : fmt(row.ratio, 2),
    row.goal,
    row.met === null ? '' : row.met ? 'met' : 'MISSED',
  ]);
  const header = ['metric', 'pgembed', 'baseline', 'ratio', 'goal', ''];
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((cells) => cells[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  console.log(`\n== ${bench} ==`);
  console.log(line(header));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const cells of table) console.log(line(cells));
  console.log(JSON.stringify({ bench, results: rows, ...extra }));
}

/** Milliseconds since an arbitrary origin, sub-millisecond resolution. */
export const now = () => performance.now();
