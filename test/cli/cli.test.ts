/**
 * The `pgembed` command as a user runs it: a separate process, on the embedded database in a temp
 * directory, and against the native server.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMigrations } from '../../src/db/migrate.js';
import { createPgliteDatabase } from '../../src/db/pglite.js';
import { runCli as pgembed } from '../support/cli.js';
import { hasPostgres, openBackend } from '../support/databases.js';

/** Each case runs several CLI processes (Node, tsx, most of them PGlite): minutes on a loaded 2-core machine. */
const SLOW = 240_000;

describe('pgembed CLI on the embedded database', () => {
  let dir: string;
  let dataDir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pgembed-cli-'));
    dataDir = join(dir, 'db');
    const db = await createPgliteDatabase({ dataDir });
    await db.exec(`CREATE TABLE articles (id int PRIMARY KEY, body text)`);
    await db.exec(
      `INSERT INTO articles VALUES (1, 'vacuum reclaims dead tuples'), (2, 'indexes speed up lookups')`,
    );
    await db.close();
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it(
    'prints help with examples for every command',
    async () => {
      const top = await pgembed(['--help']);
      expect(top.code).toBe(0);
      for (const command of ['init', 'enable', 'disable', 'worker', 'status', 'search', 'demo']) {
        expect(top.stdout).toContain(command);
        const help = await pgembed([command, '--help']);
        expect(help.code).toBe(0);
        expect(help.stdout).toMatch(/Examples:\n\s+\$ pgembed/);
      }
    },
    SLOW,
  );

  it(
    'only init and enable install the schema: the other commands refuse a database without it and create nothing',
    async () => {
      const fresh = join(dir, 'never-created');
      const commands = [
        ['worker', '--exit-when-drained'],
        ['status'],
        ['search', 'vacuum', '--table', 'articles'],
        ['disable', 'articles'],
        ['recall', 'articles'],
        ['reindex', 'articles'],
      ];
      // Side by side: each run is mostly Node and tsx starting up.
      const runs = await Promise.all(commands.map((command) => pgembed([...command, '--data-dir', fresh])));
      runs.forEach((run, i) => {
        expect(run.code, commands[i]![0]).toBe(1);
        expect(run.stderr).toMatch(
          /^error: no embedded database in .+: run `pgembed init` first, or give --database-url\nhint: [^\n]+\n$/,
        );
      });
      expect(existsSync(fresh)).toBe(false);

      // An embedded database that exists, without pgembed in it.
      const bare = join(dir, 'bare');
      const db = await createPgliteDatabase({ dataDir: bare });
      await db.exec(`CREATE TABLE articles (id int PRIMARY KEY, body text)`);
      await db.close();
      // One at a time: two processes must not open one embedded database at once.
      const worker = await pgembed(['worker', '--exit-when-drained', '--data-dir', bare, '--json']);
      const status = await pgembed(['status', '--data-dir', bare]);
      expect(worker.code).toBe(1);
      expect(JSON.parse(worker.stdout)).toEqual({
        error: {
          message:
            'pgembed is not installed in this database: run `pgembed init` (or migrate()) as the database owner',
          code: 'SCHEMA_NOT_INSTALLED',
          hint: 'the database owner runs `pgembed init` once; workers, search and status never install the schema',
        },
      });
      expect(status.code).toBe(1);
      expect(status.stderr).toMatch(/^error: pgembed is not installed in this database/);
      const after = await createPgliteDatabase({ dataDir: bare });
      try {
        const { rows } = await after.query<{ schema: string | null }>(
          `SELECT to_regnamespace('pgembed')::text AS schema`,
        );
        expect(rows[0]!.schema).toBeNull();
      } finally {
        await after.close();
      }
    },
    SLOW,
  );

  it(
    'init → enable → worker → status → search, with --json output',
    async () => {
      const init = await pgembed(['init', '--data-dir', dataDir, '--json']);
      expect(init.code).toBe(0);
      expect(JSON.parse(init.stdout)).toMatchObject({ applied: loadMigrations().map((m) => m.id) });

      const enable = await pgembed([
        'enable',
        'articles',
        '--column',
        'body',
        '--provider',
        'hash',
        '--data-dir',
        dataDir,
        '--json',
      ]);
      expect(enable.code).toBe(0);
      expect(JSON.parse(enable.stdout)).toMatchObject({ pipeline: 'articles', queued: 2, dimensions: 768 });

      const worker = await pgembed(['worker', '--exit-when-drained', '--data-dir', dataDir, '--json']);
      expect(worker.code).toBe(0);
      expect(JSON.parse(worker.stdout)).toMatchObject({ documents: 2 });
      expect(worker.stderr).toContain('"event":"batch:written"');

      const status = await pgembed(['status', '--data-dir', dataDir, '--json']);
      expect(JSON.parse(status.stdout).pipelines).toEqual([
        expect.objectContaining({ pipeline: 'articles', pending: 0, processing: 0, failed: 0, chunks: 2 }),
      ]);

      const search = await pgembed([
        'search',
        'indexes speed up lookups',
        '--table',
        'articles',
        '-k',
        '1',
        '--data-dir',
        dataDir,
        '--json',
      ]);
      expect(search.code).toBe(0);
      expect(JSON.parse(search.stdout)).toEqual([
        expect.objectContaining({ documentKey: [2], content: 'indexes speed up lookups' }),
      ]);
    },
    SLOW,
  );

  it(
    'fails with a one-line reason and a hint, and exit status 1',
    async () => {
      const missing = await pgembed(['enable', 'nope', '--column', 'body', '--data-dir', dataDir]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/^error: relation "nope" does not exist\nhint: .+\n$/);

      const badColumn = await pgembed([
        'enable',
        'articles',
        '--column',
        'nope',
        '--pipeline',
        'p2',
        '--data-dir',
        dataDir,
        '--json',
      ]);
      expect(badColumn.code).toBe(1);
      expect(JSON.parse(badColumn.stdout)).toEqual({
        error: {
          message: 'pgembed: table articles has no column "nope"',
          code: 'P0001',
          hint: 'its columns are: id, body',
        },
      });

      const badUrl = await pgembed(['status', '--database-url', 'mysql://x']);
      expect(badUrl.code).toBe(1);
      expect(badUrl.stderr).toMatch(/^error: database URL must start with postgres:\/\//);

      const badK = await pgembed(['search', 'x', '--table', 'articles', '-k', 'many', '--data-dir', dataDir]);
      // A usage error: exit status 2 (test/cli/options.test.ts covers every option).
      expect(badK.code).toBe(2);
      expect(badK.stderr).toContain('-k must be an integer between 1 and 1000');
    },
    SLOW,
  );
});

describe.skipIf(!hasPostgres())('pgembed CLI against PostgreSQL', () => {
  it('installs, enables and drains with DATABASE_URL', async () => {
    const backend = await openBackend('postgres', 'cli');
    try {
      await backend.db.exec(`CREATE TABLE notes (id bigint PRIMARY KEY, body text)`);
      await backend.db.query(`INSERT INTO notes SELECT i, 'note ' || i FROM generate_series(1, 50) i`);
      const env = { DATABASE_URL: backend.url! };
      expect((await pgembed(['init'], env)).stdout).toMatch(/already up to date/);
      expect(
        (
          await pgembed(
            ['enable', 'notes', '--column', 'body', '--provider', 'hash', '--dimensions', '64'],
            env,
          )
        ).code,
      ).toBe(0);
      const worker = await pgembed(['worker', '--exit-when-drained', '--concurrency', '2', '--json'], env);
      expect(JSON.parse(worker.stdout)).toMatchObject({ documents: 50 });
      const { rows } = await backend.db.query<{ n: number }>(
        `SELECT count(DISTINCT doc_id)::int AS n FROM notes_chunks`,
      );
      expect(rows[0]!.n).toBe(50);
    } finally {
      await backend.cleanup();
    }
  });
});
