/**
 * Pacing: does a pgembed worker keep a rate-limited provider busy at exactly the rate it allows?
 *
 * A local OpenAI-compatible server enforces 3,000 requests/min and 1,000,000 tokens/min (OpenAI-style
 * token buckets that refill continuously, counted in cl100k_base tokens, with `x-ratelimit-*` headers
 * and 429 + `retry-after` when exceeded) and answers after 50 ms. The buckets start empty — the key
 * is already busy, the steady state a backlog meets after its first minute — so the allowed
 * throughput is exactly 1,000,000 tokens per minute of the run (a full bucket would add a one-off
 * burst of a minute's budget, which measures the worker's raw speed, not its pacing). Neither side
 * is told the limits: they come from the headers (pgembed) or the 429s (baseline). Measured in
 * the same run:
 *
 * - **pgembed**: a real worker (concurrency 8, batches of 64 documents) draining a pipeline of
 *   20,000 one-chunk documents on a throw-away PostgreSQL cluster, provider `openai` pointed at the
 *   server: claims, chunks, embeds through the shared limiter, writes back.
 * - **naive baseline**: the same 20,000 texts in the same batches with the same concurrency, sent
 *   unpaced through the official OpenAI SDK with its default retry behaviour (2 retries honouring
 *   `retry-after`, else exponential backoff); a batch that still fails goes to the back of the queue.
 *   It does no database work at all, which only flatters it.
 *
 * Utilisation = tokens accepted / (1,000,000/min × elapsed), elapsed running from the start until the
 * server sent its last embeddings (the worker's drain also builds the HNSW index a 20,000-row backfill
 * deferred, a database cost reported separately). Goals: ≥ 95 % utilisation, < 1 % of requests
 * answered 429.
 *
 *   npm run bench:providers            # 20,000 chunks of ~92 tokens (≈ 2 min per side)
 *   npm run bench:providers -- --quick # 4,000 chunks against 750 RPM / 500,000 TPM (≈ 45 s per side)
 */
import OpenAI from 'openai';
import { tiktokenTokenizer } from '../../src/chunking/tokenizers.js';
import { enableDocumentChunking } from '../../src/pipelines/enable.js';
import { startWorker } from '../../src/worker/worker.js';
import {
  EMULATOR_KEY,
  type OpenAIEmulator,
  startOpenAIEmulator,
} from '../../test/support/openai-emulator.js';
import { documentText, isQuick, now, openBenchDatabase, report } from '../support/common.js';

const CHUNKS = isQuick() ? 4_000 : 20_000;
/** ≈ 92 cl100k tokens per chunk: 20,000 chunks are 1.85 M tokens, 111 s of budget. */
const WORDS_PER_CHUNK = 75;
/** --quick: fewer chunks and half the token rate, so a side still lasts long enough to mean something. */
const LIMITS = isQuick()
  ? { requestsPerMinute: 750, tokensPerMinute: 500_000 }
  : { requestsPerMinute: 3_000, tokensPerMinute: 1_000_000 };
const LATENCY_MS = 50;
const CONCURRENCY = 8;
const BATCH_SIZE = 64;
const DIMENSIONS = 16;
const MODEL = 'text-embedding-3-small';

const cl100k = tiktokenTokenizer('cl100k_base');
const texts = Array.from({ length: CHUNKS }, (_, i) => documentText(i, WORDS_PER_CHUNK));
const totalTokens = texts.reduce((sum, text) => sum + cl100k.count(text), 0);

interface RunResult {
  elapsedS: number;
  /** pgembed: until drain() returned, index build included. */
  drainedS?: number;
  requests: number;
  rateLimited: number;
  acceptedTokens: number;
  utilisation: number;
  tokensPerMinute: number;
}

async function emulator(): Promise<OpenAIEmulator> {
  return startOpenAIEmulator({
    delayMs: LATENCY_MS,
    limits: {
      ...LIMITS,
      defaultDimensions: DIMENSIONS,
      startEmpty: true,
    },
  });
}

function summarise(server: OpenAIEmulator, elapsedMs: number): RunResult {
  const elapsedS = elapsedMs / 1000;
  const allowed = LIMITS.tokensPerMinute * (elapsedS / 60);
  return {
    elapsedS,
    requests: server.requests,
    rateLimited: server.rateLimited,
    acceptedTokens: server.acceptedTokens,
    utilisation: Math.min(server.acceptedTokens, allowed) / allowed,
    tokensPerMinute: server.acceptedTokens / (elapsedS / 60),
  };
}

async function runPgembed(): Promise<RunResult> {
  const bench = await openBenchDatabase('pacing', { durable: false, poolSize: CONCURRENCY + 4 });
  const server = await emulator();
  try {
    process.env.PGEMBED_BENCH_OPENAI_KEY = EMULATOR_KEY;
    await bench.db.exec('CREATE TABLE docs (id int PRIMARY KEY, body text NOT NULL)');
    await bench.db.query(
      'INSERT INTO docs SELECT i - 1, t FROM unnest($1::text[]) WITH ORDINALITY AS u(t, i)',
      [texts],
    );
    await enableDocumentChunking(bench.db, {
      table: 'docs',
      column: 'body',
      provider: 'openai',
      model: MODEL,
      dimensions: DIMENSIONS,
      baseUrl: server.baseUrl,
      apiKeyEnv: 'PGEMBED_BENCH_OPENAI_KEY',
      chunkSize: 400,
    });
    server.resetLimits();
    const began = now();
    const worker = await startWorker({
      db: bench.db,
      concurrency: CONCURRENCY,
      batchSize: BATCH_SIZE,
      pollIntervalMs: 50,
    });
    await worker.drain({ timeoutMs: 30 * 60_000 });
    const drained = now() - began;
    await worker.stop();
    const { rows } = await bench.db.query<{ n: number }>('SELECT count(*)::int AS n FROM docs_chunks');
    if (rows[0]!.n !== CHUNKS) throw new Error(`expected ${CHUNKS} chunks, found ${rows[0]!.n}`);
    return { ...summarise(server, server.lastAnsweredAt - began), drainedS: drained / 1000 };
  } finally {
    await server.close();
    await bench.close();
  }
}

async function runNaive(): Promise<RunResult> {
  const server = await emulator();
  try {
    const client = new OpenAI({ apiKey: EMULATOR_KEY, baseURL: server.baseUrl }); // maxRetries: 2 (default)
    const queue: string[][] = [];
    for (let i = 0; i < texts.length; i += BATCH_SIZE) queue.push(texts.slice(i, i + BATCH_SIZE));
    server.resetLimits();
    const began = now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let batch = queue.shift(); batch; batch = queue.shift()) {
          try {
            await client.embeddings.create({
              model: MODEL,
              input: batch,
              dimensions: DIMENSIONS,
              encoding_format: 'base64',
            });
          } catch {
            queue.push(batch); // retries exhausted: try again later, as a queue would
          }
        }
      }),
    );
    return summarise(server, server.lastAnsweredAt - began);
  } finally {
    await server.close();
  }
}

console.error(`pacing: ${CHUNKS} chunks, ${totalTokens} tokens; naive baseline first`);
const naive = await runNaive();
console.error(`naive: ${JSON.stringify(naive)}`);
const paced = await runPgembed();
console.error(`pgembed: ${JSON.stringify(paced)}`);

const pct = (x: number) => x * 100;
report(
  `providers: pacing against ${LIMITS.requestsPerMinute} RPM / ${LIMITS.tokensPerMinute} TPM, ${LATENCY_MS} ms latency`,
  [
    {
      metric: 'token throughput / allowed',
      pgembed: pct(paced.utilisation),
      baseline: pct(naive.utilisation),
      unit: '%',
      ratio: paced.utilisation / naive.utilisation,
      goal: '≥ 95 %',
      met: paced.utilisation >= 0.95,
    },
    {
      metric: 'requests answered 429',
      pgembed: pct(paced.rateLimited / paced.requests),
      baseline: pct(naive.rateLimited / naive.requests),
      unit: '%',
      ratio: null,
      goal: '< 1 %',
      met: paced.rateLimited / paced.requests < 0.01,
    },
    {
      metric: 'tokens per minute',
      pgembed: paced.tokensPerMinute,
      baseline: naive.tokensPerMinute,
      unit: 'tok/min',
      ratio: paced.tokensPerMinute / naive.tokensPerMinute,
      goal: '',
      met: null,
    },
    {
      metric: 'until drained (index build included)',
      pgembed: paced.drainedS ?? Number.NaN,
      baseline: null,
      unit: 's',
      ratio: null,
      goal: '',
      met: null,
    },
    {
      metric: 'time to last embedding',
      pgembed: paced.elapsedS,
      baseline: naive.elapsedS,
      unit: 's',
      ratio: naive.elapsedS / paced.elapsedS,
      goal: '',
      met: null,
    },
  ],
  {
    chunks: CHUNKS,
    tokens: totalTokens,
    limits: LIMITS,
    latencyMs: LATENCY_MS,
    concurrency: CONCURRENCY,
    batchSize: BATCH_SIZE,
    pgembed: paced,
    naive,
  },
);
