/**
 * An API key planted in the worker's environment never reaches a log line, pgembed.errors, the
 * queue or the pipeline table — even when the server echoes it back in its error body, whole, cut
 * across the point where messages are cut, or in part. A leak is any run of 6 or more characters
 * of the key.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enableDocumentChunking } from '../../src/pipelines/enable.js';
import { BASE62, keyFragments, randomText, URLSAFE } from '../providers/support/leaks.js';
import { hasPostgres, openBackend, type TestBackend } from '../support/databases.js';
import { exited, spawnWorker, waitFor } from '../support/processes.js';

// Shares no 6 characters with the variable's name, which must appear.
const KEY = `sk-proj-${randomText(10, 40, URLSAFE)}`;

/** Everything pgembed keeps about its work, as text. */
async function allRows(db: TestBackend['db']): Promise<string> {
  const { rows } = await db.query<{ t: string | null }>(
    `SELECT string_agg(t, E'\\n') AS t FROM (
       SELECT row_to_json(e)::text AS t FROM pgembed.errors e
       UNION ALL SELECT row_to_json(q)::text FROM pgembed.queue q
       UNION ALL SELECT row_to_json(p)::text FROM pgembed.pipelines p
       UNION ALL SELECT row_to_json(w)::text FROM pgembed.workers w) all_rows`,
  );
  return rows[0]!.t ?? '';
}

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
    const everything = await allRows(db);
    const logs = worker.output.join('');
    expect(logs.length).toBeGreaterThan(0);
    expect(everything).toContain('PLANTED_KEY');
    for (const haystack of [logs, everything]) {
      expect(haystack).not.toContain(KEY);
      expect(keyFragments(haystack, KEY)).toEqual([]);
    }
  });
});

/** One pipeline per provider, each with a key shaped like that provider's and its error format. */
interface Planted {
  pipeline: string;
  provider: string;
  model: string;
  dimensions: number;
  /** Path under the test server that stands for this provider's base URL. */
  prefix: string;
  apiKeyEnv: string;
  key: string;
  errorBody(message: string): unknown;
}

const PLANTED: Planted[] = [
  {
    pipeline: 'openai_docs',
    provider: 'openai',
    model: 'text-embedding-3-small',
    dimensions: 8,
    prefix: '/openai/v1',
    apiKeyEnv: 'PLANTED_OPENAI',
    key: `sk-proj-${randomText(11, 156, URLSAFE)}`,
    errorBody: (message) => ({ error: { message, type: 'server_error', param: null, code: null } }),
  },
  {
    // vLLM behind `--api-key`: any token, `{object: "error", message}` bodies.
    pipeline: 'vllm_docs',
    provider: 'openai',
    model: 'my-embedder',
    dimensions: 8,
    prefix: '/vllm/v1',
    apiKeyEnv: 'PLANTED_VLLM',
    key: 'Zx!9#q$Lm%2&Vb*7(Np)=+/~',
    errorBody: (message) => ({ object: 'error', message, type: 'BadRequestError', param: null, code: 500 }),
  },
  {
    pipeline: 'azure_docs',
    provider: 'azure-openai',
    model: 'text-embedding-3-small',
    dimensions: 8,
    prefix: '/azure',
    apiKeyEnv: 'PLANTED_AZURE',
    key: randomText(12, 32, '0123456789abcdef'),
    errorBody: (message) => ({ error: { code: '500', message } }),
  },
  {
    pipeline: 'voyage_docs',
    provider: 'voyage',
    model: 'voyage-3.5',
    dimensions: 256,
    prefix: '/voyage/v1',
    apiKeyEnv: 'PLANTED_VOYAGE',
    key: `pa-${randomText(13, 43, URLSAFE)}`,
    errorBody: (message) => ({ detail: message }),
  },
  {
    pipeline: 'cohere_docs',
    provider: 'cohere',
    model: 'embed-v4.0',
    dimensions: 256,
    prefix: '/cohere',
    apiKeyEnv: 'PLANTED_COHERE',
    key: randomText(14, 40, BASE62),
    errorBody: (message) => ({ id: 'c1d1e9a2-7f0b-4c55-9a57-8f3e2c1b0a99', message }),
  },
  {
    // An Ollama behind an authenticating proxy: a JWT bearer token.
    pipeline: 'ollama_docs',
    provider: 'ollama',
    model: 'nomic-embed-text',
    dimensions: 768,
    prefix: '/ollama',
    apiKeyEnv: 'PLANTED_OLLAMA',
    key: `eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.${randomText(15, 60, URLSAFE)}.${randomText(16, 43, URLSAFE)}`,
    errorBody: (message) => ({ error: message }),
  },
];

const filler = (length: number) =>
  'The server could not process the request. '.repeat(Math.ceil(length / 42)).slice(0, length);

/**
 * Where the n-th error of a provider quotes its credential: at the start, across the 300th
 * character at several offsets, at the end of a long body, cut by the provider itself, masked,
 * and next to the input.
 */
function placement(n: number, key: string, credential: string, input: string): string {
  const placements = [
    `${credential} was refused`,
    `${filler(300 - key.length + 1)}${key}${filler(100)}`,
    `${filler(300 - Math.floor(key.length / 2))}${key}${filler(100)}`,
    `${filler(299)}${key}${filler(100)}`,
    `${filler(3000)} ${credential}`,
    `Invalid key ${key.slice(0, 12)}... for input ${JSON.stringify(input)}`,
    `Received API Key = ${key.slice(0, 7)}...${key.slice(-4)}, headers ${JSON.stringify({ credential })}`,
    `${filler(294)} key=${encodeURIComponent(key)}`,
  ];
  return placements[n % placements.length]!;
}

const credentialOf = (req: IncomingMessage) =>
  String(req.headers.authorization ?? req.headers['api-key'] ?? '');

describe.skipIf(!hasPostgres())('secrets of every provider, through a real worker', () => {
  let server: Server;
  let backend: TestBackend;
  /** Requests seen per provider prefix, and whether the servers now reject the key (401). */
  const seen = new Map<string, number>();
  let rejectKeys = false;

  beforeAll(async () => {
    server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        input?: string[];
        texts?: string[];
      };
      const planted = PLANTED.find((p) => req.url?.startsWith(`${p.prefix}/`));
      const n = seen.get(planted?.prefix ?? '') ?? 0;
      seen.set(planted?.prefix ?? '', n + 1);
      const input = (body.input ?? body.texts ?? [''])[0]!;
      // 500s (retried, then failed after the last attempt) and 400s (failed at once); 401s pause.
      const status = rejectKeys ? 401 : n % 3 === 2 ? 400 : 500;
      const message = placement(n, planted?.key ?? '', credentialOf(req), input);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(planted ? planted.errorBody(message) : { error: 'unknown path' }));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    backend = await openBackend('postgres', 'secrets_providers');
  });
  afterAll(async () => {
    server.closeAllConnections();
    server.close();
    await backend.cleanup();
  });

  // 240 s: six pipelines whose retries wait a second each took 22 s on a loaded 2-core machine.
  it('no run of 6 characters of any key in logs, pgembed.errors, last_error or pipeline rows', async () => {
    const { db } = backend;
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    for (const p of PLANTED) {
      const table = p.pipeline.replace(/_docs$/, '');
      await db.exec(`CREATE TABLE ${table} (id int PRIMARY KEY, body text)`);
      await db.query(
        `INSERT INTO ${table} SELECT i, 'private note ' || i || ' of ${table}' FROM generate_series(1, 5) i`,
      );
      await enableDocumentChunking(db, {
        table,
        column: 'body',
        provider: p.provider,
        model: p.model,
        dimensions: p.dimensions,
        baseUrl: `${url}${p.prefix}`,
        apiKeyEnv: p.apiKeyEnv,
        maxAttempts: 2,
      });
    }
    const env = Object.fromEntries(PLANTED.map((p) => [p.apiKeyEnv, p.key]));
    const worker = spawnWorker(
      ['--database-url', backend.url!, '--poll-ms', '100', '--batch-size', '1'],
      env,
    );
    try {
      await waitFor(
        async () =>
          (
            await db.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM pgembed.queue WHERE status = 'failed'`,
            )
          ).rows[0]!.n ===
          5 * PLANTED.length,
        90_000,
        'every job to fail',
      );
      // Then the servers reject the keys: every pipeline pauses with the provider's 401 text.
      rejectKeys = true;
      await db.query(`SELECT pgembed.retry_failed()`);
      await waitFor(
        async () =>
          (
            await db.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM pgembed.pipelines WHERE status = 'paused'`,
            )
          ).rows[0]!.n === PLANTED.length,
        90_000,
        'every pipeline to pause',
      );
    } finally {
      worker.kill('SIGTERM');
      await exited(worker);
    }
    for (const p of PLANTED) expect(seen.get(p.prefix), p.pipeline).toBeGreaterThanOrEqual(8);
    const everything = await allRows(db);
    const logs = worker.output.join('');
    // The failures were seen and kept, with the provider's words: there was something to leak.
    expect(logs).toMatch(/"event":"job:retry"/);
    expect(logs).toMatch(/"event":"job:failed"/);
    expect(everything).toMatch(/could not process the request/);
    for (const p of PLANTED) {
      expect(everything).toContain(p.apiKeyEnv);
      expect(keyFragments(logs, p.key), `${p.pipeline} in the logs`).toEqual([]);
      expect(keyFragments(everything, p.key), `${p.pipeline} in the database`).toEqual([]);
    }
    expect(everything).not.toMatch(/private note/);
  }, 240_000);
});
