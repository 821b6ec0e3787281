/**
 * Provider limits, end to end, where users meet them: a real worker (startWorker) on PGlite and on
 * PostgreSQL, against servers that refuse what OpenAI and Cohere refuse (test/support/openai-emulator.ts,
 * test/providers/support/cohere-emulator.ts). Whitespace-only documents, a backfill batch of more than
 * 2,048 chunks, chunks summing to more than 300,000 tokens, and more than 96 chunks for Cohere: every
 * chunk is embedded, no request is refused, no job fails.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { enableDocumentChunking } from '../../src/pipelines/enable.js';
import { hashEmbedding } from '../../src/providers/hash.js';
import { startWorker, type Worker } from '../../src/worker/worker.js';
import {
  COHERE_EMULATOR_KEY,
  COHERE_EMULATOR_VECTORS,
  COHERE_MAX_TEXTS,
  type CohereEmulator,
  startCohereEmulator,
} from '../providers/support/cohere-emulator.js';
import { BACKENDS, hasPostgres, openBackend, type TestBackend } from '../support/databases.js';
import { checkInvariants } from '../support/invariants.js';
import {
  EMULATOR_KEY,
  EMULATOR_MODEL,
  OPENAI_LIMITS,
  type OpenAIEmulator,
  startOpenAIEmulator,
} from '../support/openai-emulator.js';

const DIMS = 16;

/** `count` words naming document `i` (4 cl100k tokens each below i = 1000): no two documents share a chunk text. */
function words(i: number, count: number): string {
  return Array.from({ length: count }, (_, w) => `w${w}d${i}`).join(' ');
}

/** 7,002 cl100k tokens of prose naming document `i`. */
function longDocument(i: number): string {
  const vocabulary = ['alpha', 'beta', 'gamma', 'delta', 'epsilon'];
  return `doc${i} ${Array.from({ length: 7000 }, (_, w) => vocabulary[(w * 7 + i) % 5]).join(' ')}`;
}

describe.each(BACKENDS)('provider limits through a worker on %s', (kind) => {
  let backend: TestBackend;
  let openai: OpenAIEmulator | undefined;
  let cohere: CohereEmulator | undefined;
  let worker: Worker | undefined;
  const written: number[] = [];

  beforeEach(async (context) => {
    if (kind === 'postgres' && !hasPostgres()) context.skip();
    process.env.PGEMBED_TEST_OPENAI_KEY = EMULATOR_KEY;
    process.env.PGEMBED_TEST_COHERE_KEY = COHERE_EMULATOR_KEY;
    backend = await openBackend(kind, 'limits');
    written.length = 0;
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    await openai?.close();
    await cohere?.close();
    openai = undefined;
    cohere = undefined;
    await backend?.cleanup();
  });

  /** The table, filled before the pipeline exists, so enabling it backfills every row at once. */
  async function table(rows: number, content: (i: number) => string) {
    await backend.db.exec(`CREATE TABLE docs (id int PRIMARY KEY, body text)`);
    const ids = Array.from({ length: rows }, (_, i) => i + 1);
    await backend.db.query(`INSERT INTO docs SELECT * FROM unnest($1::int[], $2::text[])`, [
      ids,
      ids.map(content),
    ]);
  }

  async function openaiPipeline(options: { chunkSize: number; chunkOverlap?: number }) {
    openai = await startOpenAIEmulator();
    await enableDocumentChunking(backend.db, {
      table: 'docs',
      column: 'body',
      chunkStrategy: 'token',
      chunkSize: options.chunkSize,
      chunkOverlap: options.chunkOverlap ?? 0,
      provider: 'openai',
      model: 'text-embedding-3-small',
      dimensions: DIMS,
      baseUrl: openai.baseUrl,
      apiKeyEnv: 'PGEMBED_TEST_OPENAI_KEY',
      maxAttempts: 1,
    });
  }

  /** Runs one worker (one claim takes the whole backfill) until the queue is empty. */
  async function drain() {
    worker = await startWorker({ db: backend.db, batchSize: 2048, pollIntervalMs: 50, baseBackoffMs: 10 });
    worker.events.on('batch:written', (event) => written.push(event.embedded));
    await worker.drain({ timeoutMs: 240_000 });
  }

  async function expectAllEmbedded(embed: (text: string) => number[]) {
    const { rows } = await backend.db.query<{ status: string; n: number }>(
      `SELECT status, count(*)::int AS n FROM pgembed.queue GROUP BY status`,
    );
    expect(rows).toEqual([]);
    const report = await checkInvariants(backend.db, 'docs', { embed });
    expect(report).toMatchObject({
      stale: [],
      lost: 0,
      duplicated: 0,
      wrongVectors: 0,
      orphans: 0,
      processing: 0,
    });
    const { rows: errors } = await backend.db.query(`SELECT code, message FROM pgembed.errors`);
    expect(errors).toEqual([]);
  }
  const openaiVector = (text: string) => hashEmbedding(text, DIMS, EMULATOR_MODEL);
  const chunks = async () =>
    (await backend.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM docs_chunks`)).rows[0]!.n;

  it('whitespace-only, empty and NULL documents send no empty input; the others are embedded', async () => {
    const blank = ['', ' ', '   \n\t  ', '\n\n', '\u00a0\u2003'];
    await table(40, (i) => (i % 4 === 0 ? blank[(i / 4) % blank.length]! : `document ${i}: ${words(i, 30)}`));
    await backend.db.query(`INSERT INTO docs VALUES (1000, NULL)`);
    await openaiPipeline({ chunkSize: 200 });
    await drain();
    await expectAllEmbedded(openaiVector);
    expect(openai!.refused).toBe(0);
    expect(openai!.log.every((request) => request.status === 200)).toBe(true);
    expect(await chunks()).toBe(30);
    // Later writes of blank content, through the triggers, too.
    await backend.db.query(`UPDATE docs SET body = '  ' WHERE id <= 3`);
    await backend.db.query(`INSERT INTO docs VALUES (2000, E'\\n \\n')`);
    await worker!.drain({ timeoutMs: 60_000 });
    await expectAllEmbedded(openaiVector);
    expect(openai!.refused).toBe(0);
    expect(await chunks()).toBe(27);
  });

  it('a backfill batch of more than 2,048 chunks goes out as requests of at most 2,048 inputs', async () => {
    // Two chunks per document (40 or 50 tokens, chunks of 30): 1,100 documents in one claim are
    // 2,200 chunks to embed.
    await table(1100, (i) => words(i, 10));
    await openaiPipeline({ chunkSize: 30 });
    await drain();
    await expectAllEmbedded(openaiVector);
    expect(await chunks()).toBe(2200);
    expect(Math.max(...written)).toBeGreaterThan(OPENAI_LIMITS.maxInputs);
    expect(openai!.refused).toBe(0);
    expect(Math.max(...openai!.log.map((request) => request.inputs))).toBe(OPENAI_LIMITS.maxInputs);
    expect(openai!.log.reduce((sum, request) => sum + request.inputs, 0)).toBe(2200);
  });

  it('chunks summing to more than 300,000 tokens go out as requests of at most 300,000', async () => {
    // 45 documents of one 7,002-token chunk each: 315,090 tokens in one claim.
    await table(45, longDocument);
    await openaiPipeline({ chunkSize: 8000 });
    await drain();
    await expectAllEmbedded(openaiVector);
    expect(await chunks()).toBe(45);
    const total = openai!.log.reduce((sum, request) => sum + request.tokens, 0);
    expect(total).toBeGreaterThan(OPENAI_LIMITS.maxRequestTokens);
    expect(openai!.refused).toBe(0);
    expect(openai!.log.length).toBeGreaterThanOrEqual(2);
    for (const request of openai!.log) {
      expect(request.tokens).toBeLessThanOrEqual(OPENAI_LIMITS.maxRequestTokens);
      expect(request.maxInputTokens).toBeLessThanOrEqual(OPENAI_LIMITS.maxInputTokens);
    }
  });

  async function coherePipeline() {
    cohere = await startCohereEmulator();
    await enableDocumentChunking(backend.db, {
      table: 'docs',
      column: 'body',
      chunkSize: 200,
      chunkOverlap: 0,
      provider: 'cohere',
      model: 'embed-v4.0',
      dimensions: 256,
      baseUrl: cohere.baseUrl,
      apiKeyEnv: 'PGEMBED_TEST_COHERE_KEY',
      maxAttempts: 1,
    });
  }
  const cohereVector = (text: string) => hashEmbedding(text, 256, COHERE_EMULATOR_VECTORS);

  it('cohere: 250 chunks go out as requests of at most 96 texts, with no empty text', async () => {
    await table(260, (i) => (i % 26 === 0 ? '   ' : `note ${i}: ${words(i, 20)}`));
    await coherePipeline();
    await drain();
    await expectAllEmbedded(cohereVector);
    expect(await chunks()).toBe(250);
    expect(cohere!.refused).toBe(0);
    expect(Math.max(...cohere!.log.map((request) => request.texts))).toBe(COHERE_MAX_TEXTS);
    expect(cohere!.log.reduce((sum, request) => sum + request.texts, 0)).toBe(250);
  });

  it('cohere: header-less 429s get 3 in-process retries, then a reschedule that charges no attempt', async () => {
    await table(50, (i) => `note ${i}: ${words(i, 20)}`);
    await coherePipeline();
    // A whole call's budget (1 + 3 inline retries) and the first request of the next call.
    cohere!.rateLimitNext = 5;
    await drain();
    // maxAttempts is 1: had the 429s been charged, the jobs would have failed.
    const { rows } = await backend.db.query(`SELECT status FROM pgembed.queue`);
    expect(rows).toEqual([]);
    const report = await checkInvariants(backend.db, 'docs', { embed: cohereVector });
    expect(report).toMatchObject({ stale: [], lost: 0, wrongVectors: 0, processing: 0 });
    // Then successes only (the requeued jobs may come due in more than one claim: their delays are
    // jittered one by one), which embed the 50 texts.
    const statuses = cohere!.log.map((request) => request.status);
    expect(statuses.slice(0, 5)).toEqual([429, 429, 429, 429, 429]);
    expect(new Set(statuses.slice(5))).toEqual(new Set([200]));
    expect(cohere!.log.reduce((sum, request) => sum + request.texts, 0)).toBe(50);
    const { rows: errors } = await backend.db.query<{ code: string; message: string }>(
      `SELECT DISTINCT code, message FROM pgembed.errors`,
    );
    expect(errors).toHaveLength(1);
    expect(errors[0]!.code).toBe('PROVIDER_RATE_LIMITED');
    expect(errors[0]!.message).toMatch(
      /rate-limited embed-v4\.0 \(HTTP 429: You are past the per minute request limit, please wait and try again later\.\) \(will retry in .*, no attempt charged\)$/,
    );
  });
});
