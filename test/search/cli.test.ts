/**
 * `pgembed search`, `pgembed recall` and `pgembed reindex` as a user runs them: separate processes,
 * on the embedded database in a temp directory and on the native server.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/types.js';
import { createPgembed } from '../../src/index.js';
import { runCli as pgembed } from '../support/cli.js';
import { hasPostgres, openBackend, type TestBackend } from '../support/databases.js';

async function fill(db: Database): Promise<void> {
  await db.exec(`CREATE TABLE kb (id int PRIMARY KEY, team text NOT NULL, body text)`);
  await db.exec(
    `INSERT INTO kb SELECT i, CASE WHEN i % 2 = 0 THEN 'red' ELSE 'blue' END, 'article ' || i || ' about vacuum and indexes'
     FROM generate_series(1, 120) i`,
  );
}

describe('search, recall and reindex commands on the embedded database', () => {
  let dir: string;
  let dataDir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pgembed-search-cli-'));
    dataDir = join(dir, 'db');
    const pg = await createPgembed({ dataDir });
    await fill(pg.db);
    await pg.enable({ table: 'kb', column: 'body', provider: 'hash', dimensions: 16 });
    const worker = await pg.startWorker({ pollIntervalMs: 50 });
    await worker.drain();
    await worker.stop();
    await pg.close();
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('prints help with examples', async () => {
    for (const command of ['search', 'recall', 'reindex']) {
      const help = await pgembed([command, '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/Examples:\n\s+\$ pgembed/);
    }
  });

  it('searches with filters, grouping and JSON output; fails with one line and a hint', async () => {
    const run = await pgembed([
      'search',
      'article 7 about vacuum and indexes',
      '--table',
      'kb',
      '-k',
      '3',
      '--where',
      'team=blue',
      '--group-by-document',
      '--data-dir',
      dataDir,
      '--json',
    ]);
    expect(run.code).toBe(0);
    const results = JSON.parse(run.stdout) as { documentKey: number[]; textRank: number | null }[];
    expect(results).toHaveLength(3);
    expect(results[0]!.documentKey).toEqual([7]);
    expect(results.every((r) => r.documentKey[0]! % 2 === 1)).toBe(true);

    const human = await pgembed(['search', 'vacuum', '--table', 'kb', '--no-hybrid', '--data-dir', dataDir]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^1\. \[\d\.\d{3}\] document \[\d+\] chunk 0 chars 0–\d+/);

    const bad = await pgembed([
      'search',
      'vacuum',
      '--table',
      'kb',
      '--where',
      'nope=1',
      '--data-dir',
      dataDir,
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(
      /^error: pgembed: source table kb has no column "nope"\nhint: its columns are: id, team, body\n$/,
    );
  });

  it('measures recall, tunes ef_search, and switches the index to IVFFlat', async () => {
    const recall = await pgembed(['recall', 'kb', '--sample', '20', '--data-dir', dataDir, '--json']);
    expect(recall.code).toBe(0);
    expect(JSON.parse(recall.stdout)).toMatchObject({
      pipeline: 'kb',
      chunks: 120,
      sample: 20,
      k: 10,
      efSearch: 40,
    });

    const tune = await pgembed([
      'recall',
      'kb',
      '--sample',
      '20',
      '--tune',
      '--target',
      '0.9',
      '--data-dir',
      dataDir,
    ]);
    expect(tune.code).toBe(0);
    expect(tune.stdout).toMatch(/ef_search \d+ reaches recall@10 ≥ 0.9; stored in pipeline kb/);

    const reindex = await pgembed(['reindex', 'kb', '--type', 'ivfflat', '--data-dir', dataDir, '--json']);
    expect(reindex.code).toBe(0);
    expect(JSON.parse(reindex.stdout)).toMatchObject({
      pipeline: 'kb',
      indexType: 'ivfflat',
      concurrently: false,
    });
    const wrong = await pgembed(['reindex', 'kb', '--type', 'btree', '--data-dir', dataDir]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/argument 'btree' is invalid\. Allowed choices are hnsw, ivfflat\./);
  });
});

describe.skipIf(!hasPostgres())('reindex and tenant search on the PostgreSQL server', () => {
  let backend: TestBackend;

  beforeAll(async () => {
    backend = await openBackend('postgres', 'search_cli');
    await fill(backend.db);
    const pg = await createPgembed({ databaseUrl: backend.url });
    await pg.enable({ table: 'kb', column: 'body', provider: 'hash', dimensions: 16 });
    const worker = await pg.startWorker({ pollIntervalMs: 50 });
    await worker.drain();
    await worker.stop();
    await pg.db.query(`SELECT pgembed.configure_search('kb', '{"tenant_column": "team"}')`);
    await pg.close();
  });
  afterAll(async () => backend?.cleanup());

  it('rebuilds CONCURRENTLY and keeps tenants apart', async () => {
    const url = backend.url!;
    const reindex = await pgembed(['reindex', 'kb', '--m', '8', '--database-url', url, '--json']);
    expect(reindex.code).toBe(0);
    const result = JSON.parse(reindex.stdout) as { concurrently: boolean; statements: string[] };
    expect(result.concurrently).toBe(true);
    expect(result.statements[0]).toMatch(
      /^CREATE INDEX CONCURRENTLY ON public\.kb_chunks USING hnsw .* WITH \(m = 8/,
    );

    const missing = await pgembed(['search', 'vacuum', '--table', 'kb', '--database-url', url]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/multi-tenant/);
    const red = await pgembed([
      'search',
      'vacuum',
      '--table',
      'kb',
      '-k',
      '50',
      '--tenant',
      'red',
      '--database-url',
      url,
      '--json',
    ]);
    expect(red.code).toBe(0);
    const keys = (JSON.parse(red.stdout) as { documentKey: number[] }[]).map((r) => r.documentKey[0]!);
    expect(keys).toHaveLength(50);
    expect(keys.every((id) => id % 2 === 0)).toBe(true);
  });
});
