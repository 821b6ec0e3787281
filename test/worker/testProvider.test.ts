/**
 * pgembed.test_provider() answered by a live worker, provider names accepted by SQL, and the
 * migration's models. On PGlite (one connection) a waiting test_provider() blocks the worker that
 * would answer it, so there it must fail with its clear timeout error rather than hang.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { enableDocumentChunking } from '../../src/pipelines/enable.js';
import { startWorker, type Worker } from '../../src/worker/worker.js';
import { BACKENDS, hasPostgres, openBackend, type TestBackend } from '../support/databases.js';
import { EMULATOR_KEY, type OpenAIEmulator, startOpenAIEmulator } from '../support/openai-emulator.js';

describe.each(BACKENDS)('test_provider() and provider names on %s', (kind) => {
  let backend: TestBackend;
  let emulator: OpenAIEmulator;
  let worker: Worker | undefined;

  beforeEach(async (context) => {
    if (kind === 'postgres' && !hasPostgres()) context.skip();
    process.env.PGEMBED_TEST_OPENAI_KEY = EMULATOR_KEY;
    backend = await openBackend(kind, 'test_provider');
    emulator = await startOpenAIEmulator();
    await backend.db.exec(`CREATE TABLE docs (id int PRIMARY KEY, body text)`);
    await enableDocumentChunking(backend.db, {
      table: 'docs',
      column: 'body',
      provider: 'openai',
      model: 'text-embedding-3-small',
      dimensions: 16,
      baseUrl: emulator.baseUrl,
      apiKeyEnv: 'PGEMBED_TEST_OPENAI_KEY',
    });
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    await emulator?.close();
    await backend?.cleanup();
  });

  const testProvider = async (timeout = '10 seconds') =>
    (
      await backend.db.query<{ result: Record<string, unknown> }>(
        `SELECT pgembed.test_provider('docs', $1::interval) AS result`,
        [timeout],
      )
    ).rows[0]!.result;

  it('raises a clear error when no worker is alive', async () => {
    await expect(testProvider()).rejects.toThrow('pgembed: no live worker serves pipeline "docs"');
  });

  it('a live worker answers with provider, model, dimensions and latency (PGlite: a clear timeout)', async () => {
    worker = await startWorker({ db: backend.db, pollIntervalMs: 50, providerTestPollMs: 100 });
    if (kind === 'pglite') {
      // One connection: the waiting call blocks the worker that would answer it.
      await expect(testProvider('300 milliseconds')).rejects.toThrow(
        'pgembed: no worker answered the provider test for pipeline "docs" within 00:00:00.3',
      );
      return;
    }
    const result = await testProvider();
    expect(result).toMatchObject({
      ok: true,
      pipeline: 'docs',
      provider: 'openai',
      model: 'text-embedding-3-small',
      dimensions: 16,
      configured_dimensions: 16,
      column_dimensions: 16,
      dimensions_match: true,
      worker_id: worker.id,
    });
    expect(result.latency_ms).toEqual(expect.any(Number));
    // The answer was collected: nothing is left behind.
    const { rows } = await backend.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pgembed.provider_test_results`,
    );
    expect(rows[0]!.n).toBe(0);

    emulator.fault = 'unauthorized';
    expect(await testProvider()).toMatchObject({ ok: false, code: 'PROVIDER_AUTH', dimensions: null });
    emulator.fault = 'wrong_dimensions';
    expect(await testProvider()).toMatchObject({ ok: false, code: 'DIMENSION_MISMATCH' });
  });

  it('accepts the new providers with their default models, and explains anthropic', async () => {
    await backend.db.exec(`CREATE TABLE notes (id int PRIMARY KEY, body text)`);
    for (const [provider, model, dimensions] of [
      ['voyage', 'voyage-3.5', 1024],
      ['cohere', 'embed-v4.0', 1536],
      ['ollama', 'nomic-embed-text', 768],
      ['azure-openai', 'text-embedding-3-small', 1536],
    ] as const) {
      const { rows } = await backend.db.query<{ r: { model: string; dimensions: number } }>(
        `SELECT pgembed.enable_document_chunking('notes', 'body', provider => $1::text,
                pipeline_name => $1::text, chunk_table_name => $2::text, chunk_size => 200) AS r`,
        [provider, `notes_${provider.replace('-', '_')}`],
      );
      expect(rows[0]!.r).toMatchObject({ model, dimensions });
    }
    await expect(
      backend.db.query(`SELECT pgembed.enable_document_chunking('notes', 'body', provider => 'anthropic')`),
    ).rejects.toThrow(/Anthropic has no embeddings API; Anthropic recommends Voyage AI/);
    await expect(
      backend.db.query(`SELECT pgembed.enable_document_chunking('notes', 'body', provider => 'voyager')`),
    ).rejects.toThrow('pgembed: unknown provider "voyager"');
  });

  it('set_provider_options() validates and merges pacing options', async () => {
    const { rows } = await backend.db.query<{ o: Record<string, unknown> }>(
      `SELECT pgembed.set_provider_options('docs', '{"requests_per_minute": 3000, "tokens_per_minute": 1000000}') AS o`,
    );
    expect(rows[0]!.o).toMatchObject({
      requests_per_minute: 3000,
      tokens_per_minute: 1_000_000,
      api_key_env: 'PGEMBED_TEST_OPENAI_KEY',
    });
    await expect(
      backend.db.query(`SELECT pgembed.set_provider_options('docs', '{"rpm": 1}')`),
    ).rejects.toThrow('pgembed: unknown provider option "rpm"');
    await expect(
      backend.db.query(`SELECT pgembed.set_provider_options('docs', '{"max_concurrency": 0}')`),
    ).rejects.toThrow(/max_concurrency must be a positive integer/);
    const { rows: removed } = await backend.db.query<{ o: Record<string, unknown> }>(
      `SELECT pgembed.set_provider_options('docs', '{"requests_per_minute": null}') AS o`,
    );
    expect(removed[0]!.o).not.toHaveProperty('requests_per_minute');
  });
});
