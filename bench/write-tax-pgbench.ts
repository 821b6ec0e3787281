/**
 * The trigger cost alone, measured with pgbench (a C client, so the client's own CPU hardly
 * varies): four clients doing single-row INSERTs into a table without and with a pipeline, durable
 * cluster, rounds alternating, median of each. No worker runs: this is what writers pay.
 *
 *   npx tsx bench/write-tax-pgbench.ts [--quick]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate } from '../src/db/migrate.js';
import { createPostgresDatabase } from '../src/db/postgres.js';
import { enableDocumentChunking } from '../src/pipelines/enable.js';
import { createTestDatabase, startCluster } from '../test/support/postgres.js';
import { isQuick } from './support/common.js';

const PGBENCH = '/usr/lib/postgresql/15/bin/pgbench';
const ROUNDS = isQuick() ? 3 : 5;
const SECONDS = isQuick() ? '2' : '3';

const cluster = await startCluster({ durable: true });
const target = await createTestDatabase(cluster.adminUrl, 'write_tax_pgbench');
const db = createPostgresDatabase({ connectionString: target.url });
try {
  await migrate(db);
  await db.exec(`CREATE TABLE plain (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text);
                 CREATE TABLE articles (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text);`);
  await enableDocumentChunking(db, { table: 'articles', column: 'body', provider: 'hash' });
  // The steady state of a busy system: workers draining, so writers send no NOTIFY.
  await db.exec(`UPDATE pgembed.wakeups SET armed = false`);
  const url = new URL(target.url.replace('postgresql://postgres@/', 'postgresql://postgres@localhost/'));
  const args = [
    '-h',
    url.searchParams.get('host')!,
    '-p',
    url.searchParams.get('port')!,
    '-U',
    'postgres',
    url.pathname.slice(1),
  ];
  const dir = mkdtempSync(join(tmpdir(), 'pgembed-pgbench-'));
  const run = (table: string) => {
    const script = join(dir, `${table}.sql`);
    writeFileSync(script, `INSERT INTO ${table} (body) VALUES ('${'x'.repeat(700)}');\n`);
    const out = execFileSync(PGBENCH, ['-n', '-c', '4', '-j', '2', '-T', SECONDS, '-f', script, ...args], {
      encoding: 'utf8',
    });
    return Number(/tps = ([\d.]+)/.exec(out)![1]);
  };
  const plain: number[] = [];
  const piped: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    plain.push(run('plain'));
    piped.push(run('articles'));
    await db.exec(`DELETE FROM pgembed.queue; DELETE FROM pgembed.queue_log`);
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const tax = 1 - median(piped) / median(plain);
  console.log('metric                                   pgembed        baseline       tax     goal');
  console.log(
    `single-row inserts, 4 clients (pgbench)  ${median(piped).toFixed(0)} tps  ${median(plain).toFixed(0)} tps  ${(tax * 100).toFixed(1)} %  ≤ 10 % ${tax <= 0.1 ? 'met' : 'MISSED'}`,
  );
  console.log(JSON.stringify({ bench: 'write-tax-pgbench', plain, pipeline: piped, tax }));
} finally {
  await db.close();
  await target.drop();
  await cluster.stop();
}
