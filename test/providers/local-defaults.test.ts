/**
 * The defaults of a pipeline declared with nothing but table and column (migration 0014, chosen in
 * bench/retrieval: docs/search.md), end to end on both databases: the settings stored, and the chunks
 * the worker writes from a Markdown document — structure-aware, each with the page title and heading
 * path ahead of it for the embedder, well under the model's window.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { enableDocumentChunking } from '../../src/pipelines/enable.js';
import { startWorker, type Worker } from '../../src/worker/worker.js';
import { BACKENDS, hasPostgres, openBackend, type TestBackend } from '../support/databases.js';

const PAGE = `# VACUUM

VACUUM — garbage-collect and optionally analyze a database

## Description

VACUUM reclaims storage occupied by dead tuples. In normal PostgreSQL operation, tuples that are deleted
or obsoleted by an update are not physically removed from their table; they remain present until a
VACUUM is done. Therefore it's necessary to do VACUUM periodically, especially on frequently-updated
tables.

## Parameters

FULL selects full vacuum, which can reclaim more space, but takes much longer and exclusively locks the
table. This method also requires extra disk space, since it writes a new copy of the table and doesn't
release the old copy until the operation is complete.

FREEZE selects aggressive freezing of tuples. Specifying FREEZE is equivalent to performing VACUUM with
the vacuum_freeze_min_age and vacuum_freeze_table_age parameters set to zero.
`;

describe.each(BACKENDS)('pipeline defaults (%s)', { timeout: 120_000 }, (kind) => {
  let backend: TestBackend | undefined;
  let worker: Worker | undefined;
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    await backend?.cleanup();
    backend = undefined;
  });

  it.skipIf(kind === 'postgres' && !hasPostgres())(
    'table and column only: markdown, 96/16 word pieces for the local model, title and headings as context',
    async () => {
      backend = await openBackend(kind, 'pipeline_defaults');
      const { db } = backend;
      await db.exec(`CREATE TABLE pages (id int PRIMARY KEY, body text NOT NULL)`);
      const declared = await enableDocumentChunking(db, { table: 'pages', column: 'body' });
      expect(declared).toMatchObject({
        provider: 'local',
        model: 'all-MiniLM-L6-v2-int8',
        chunk_strategy: 'markdown',
        chunk_size: 96,
        chunk_overlap: 16,
      });

      await db.query(`INSERT INTO pages VALUES (1, $1)`, [PAGE]);
      worker = await startWorker({ db, pollIntervalMs: 20 });
      await worker.drain({ timeoutMs: 60_000 });
      const { rows } = await db.query<{
        heading_path: string[] | null;
        context: string | null;
        token_count: number;
      }>(`SELECT heading_path, context, token_count FROM pages_chunks ORDER BY chunk_index`);
      expect(rows.length).toBeGreaterThan(1);
      for (const row of rows) expect(row.token_count).toBeLessThanOrEqual(96);
      // Every chunk is embedded under its page's title and the heading it sits in.
      const parameters = rows.find((row) => row.heading_path?.includes('Parameters'));
      expect(parameters?.context).toMatch(/^# VACUUM > ## Parameters$/);
      expect(rows.every((row) => row.context?.startsWith('# VACUUM'))).toBe(true);
    },
  );

  it.skipIf(kind === 'postgres' && !hasPostgres())(
    'a model with a large window keeps 400 tokens and overlap 50; explicit settings still win',
    async () => {
      backend = await openBackend(kind, 'pipeline_defaults_large');
      const { db } = backend;
      await db.exec(`CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL)`);
      const large = await enableDocumentChunking(db, { table: 'notes', column: 'body', provider: 'hash' });
      expect(large).toMatchObject({ chunk_strategy: 'markdown', chunk_size: 400, chunk_overlap: 50 });
      await db.exec(`CREATE TABLE tickets (id int PRIMARY KEY, body text NOT NULL)`);
      const explicit = await enableDocumentChunking(db, {
        table: 'tickets',
        column: 'body',
        chunkStrategy: 'token',
        chunkSize: 40,
      });
      // An explicit size below the default overlap no longer needs an explicit overlap.
      expect(explicit).toMatchObject({ chunk_strategy: 'token', chunk_size: 40, chunk_overlap: 6 });
    },
  );
});
