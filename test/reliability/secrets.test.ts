/**
 * An API key planted in the worker's environment never reaches a log line, pgembed.errors, the
 * queue or the pipeline table — even when the server echoes it back in its error body.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enableDocumentChunking } from '../../src/pipelines/enable.js';
import { hasPostgres, openBackend, type TestBackend } from '../support/databases.js';
import { exited, spawnWorker, waitFor } from '../support/processes.js';

const KEY = 'sk-proj-PLANTEDsecret0123456789abcdefXYZ';

describe.skipIf(!hasPostgres())('secrets on postgres', () => {
  let server: Server;
  let baseUrl: string;
  let backend: TestBackend;

  beforeAll(async () => {
    // A careless OpenAI-compatible server: its error bodies quote the Authorization header.
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            error: {
              message: `Incorrect API key provided: ${req.headers.authorization}`,
              type: 'invalid_request_error',
              code: 'invalid_api_key',
            },
          }),
        );
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    backend = await openBackend('postgres', 'secrets');
  });
  afterAll(async () => {
    server.closeAllConnections();
    server.close();
    await backend.cleanup();
  });

  it('keeps the key out of logs, errors, queue and pipeline rows', async () => {
    const { db } = backend;
    await db.exec(`CREATE TABLE docs (id int PRIMARY KEY, body text)`);
    await db.query(`INSERT INTO docs VALUES (1, 'one'), (2, 'two')`);
    await enableDocumentChunking(db, {
      table: 'docs',
      column: 'body',
      provider: 'openai',
      model: 'text-embedding-3-small',
      dimensions: 8,
      baseUrl,
      apiKeyEnv: 'PLANTED_KEY',
      maxAttempts: 1,
    });
    const worker = spawnWorker(['--database-url', backend.url!, '--poll-ms', '100'], { PLANTED_KEY: KEY });
    try {
      await waitFor(
        async () => (await db.query(`SELECT 1 FROM pgembed.errors`)).rowCount > 0,
        30_000,
        'the 401 to be recorded',
      );
    } finally {
      worker.kill('SIGTERM');
      await exited(worker);
    }
    const everything = await db.query<{ t: string }>(
      `SELECT string_agg(t, E'\\n') AS t FROM (
         SELECT row_to_json(e)::text AS t FROM pgembed.errors e
         UNION ALL SELECT row_to_json(q)::text FROM pgembed.queue q
         UNION ALL SELECT row_to_json(p)::text FROM pgembed.pipelines p
         UNION ALL SELECT row_to_json(w)::text FROM pgembed.workers w) all_rows`,
    );
    const logs = worker.output.join('');
    expect(logs.length).toBeGreaterThan(0);
    expect(everything.rows[0]!.t).toContain('PLANTED_KEY');
    for (const haystack of [logs, everything.rows[0]!.t]) {
      expect(haystack).not.toContain(KEY);
      expect(haystack).not.toContain(KEY.slice(8, 30));
    }
  });
});
