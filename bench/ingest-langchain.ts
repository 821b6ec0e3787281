/**
 * pgembed next to LangChain.js on the same backfill, in the same run: 400 Markdown documents (3.1 MB of
 * the PostgreSQL manual, support/markdown-corpus.ts), one local OpenAI-compatible server for both (the
 * emulator of test/support/openai-emulator.ts in its own process: text-embedding-3-small's 1536
 * dimensions, answered at once like a fast provider), one durable PostgreSQL 15 + pgvector cluster,
 * an HNSW index (cosine, m 16, ef_construction 64) in both stores. Rounds alternate (LangChain, pgembed,
 * LangChain, pgembed, …), each on a fresh database, and the ratio is taken of the mean times.
 *
 * LangChain.js — what `RecursiveCharacterTextSplitter` + `PGVectorStore.addDocuments` do:
 * - `@langchain/textsplitters`' RecursiveCharacterTextSplitter.splitDocuments, 1,600 characters with
 *   200 of overlap (≈ pgembed's 400/50 tokens at ~4 characters per token; both chunk counts printed);
 * - `@langchain/openai`'s OpenAIEmbeddings.embedDocuments (that package is not installed here, so its
 *   published code is restated below on `@langchain/core`'s Embeddings and the `openai` SDK): newlines
 *   replaced by spaces (stripNewLines, on by default), batches of 512 texts, at most 2 requests at
 *   once (its AsyncCaller's maxConcurrency), the SDK's default base64 encoding decoded to floats;
 * - `@langchain/community`'s PGVectorStore (not installed either; its statements restated exactly):
 *   `initialize()` runs CREATE EXTENSION IF NOT EXISTS vector and CREATE TABLE IF NOT EXISTS (id uuid
 *   DEFAULT gen_random_uuid() PRIMARY KEY, text text, metadata jsonb, embedding vector(1536)),
 *   `createHnswIndex({ dimensions: 1536 })` the index on `(embedding::vector(1536)) vector_cosine_ops`
 *   WITH (m=16, ef_construction=64), both untimed; `addVectors` then sends one multi-row
 *   `INSERT INTO t("text", "embedding", "metadata") VALUES ($1, $2, $3), …` per 500 rows (its default
 *   chunkSize), one after the other through a pg.Pool, each row's vector as the text `[x,y,…]` and its
 *   metadata (the splitter's `loc` plus the source name) as JSON.
 * Timed from the split to the last INSERT's answer.
 *
 * pgembed — what `pgembed enable` + one `pgembed worker` do: the documents are rows of a table (loaded
 * untimed, as LangChain's are in memory), one worker process with `pgembed worker`'s defaults is
 * running and idle; timed from `enable_document_chunking(… chunk_strategy => 'markdown', provider =>
 * 'openai', model => 'text-embedding-3-small', base_url => the emulator)` to the pipeline's indexes
 * being live (HNSW and full text) with its queue empty, watched every 20 ms.
 *
 * Reported: MB of source per second for both and the ratio, and CPU per MB of source: the client side
 * (LangChain: this process; pgembed: the worker process) and PostgreSQL (every process of the cluster);
 * the emulator's own CPU is left out of both.
 *
 *   npx tsx bench/ingest-langchain.ts [--quick] [--rounds N] [--docs N] [--concurrency 1,2] [--only pgembed|langchain]
 *                                     [--defer-index-rows N] [--profile DIR]
 */
import { Document } from '@langchain/core/documents';
import { Embeddings } from '@langchain/core/embeddings';
import { chunkArray } from '@langchain/core/utils/chunk_array';
import { RecursiveCharacterTextSplitter } from '@langchain/textsplitters';
import OpenAI from 'openai';
import pg from 'pg';
import { migrate } from '../src/db/migrate.js';
import { createPostgresDatabase } from '../src/db/postgres.js';
import { enableDocumentChunking } from '../src/pipelines/enable.js';
import { EMULATOR_KEY } from '../test/support/openai-emulator.js';
import { createTestDatabase, startCluster } from '../test/support/postgres.js';
import { integerArgument, isQuick, now, report, sleep } from './support/common.js';
import { cpuSnapshot, processCpuUs } from './support/cpu.js';
import { type MarkdownDocument, markdownDocuments, sourceBytes } from './support/markdown-corpus.js';
import { startOpenAIProcess, startWorkerProcess, stopWorkerProcess } from './support/workers.js';

const quick = isQuick();
const DOCS = integerArgument('--docs', quick ? 100 : 400);
const ROUNDS = integerArgument('--rounds', quick ? 1 : 2);
/** `--defer-index-rows N` for pgembed's enable (e.g. 1000000: indexes live, as before 0013); default its own. */
const DEFER_INDEX_ROWS = process.argv.includes('--defer-index-rows')
  ? integerArgument('--defer-index-rows', 0)
  : undefined;
/**
 * Batches the pgembed worker process runs at once, one pgembed side per value (`--concurrency 1,2`);
 * default 1, as `pgembed worker`.
 */
const CONCURRENCIES = (() => {
  const at = process.argv.indexOf('--concurrency');
  if (at < 0) return [1];
  const list = (process.argv[at + 1] ?? '').split(',').map(Number);
  if (!list.every((n) => Number.isInteger(n) && n >= 1 && n <= 64))
    throw new Error('--concurrency needs integers from 1 to 64, e.g. --concurrency 1,2');
  return list;
})();
const MODEL = 'text-embedding-3-small';
const DIMENSIONS = 1536;
const KEY_ENV = 'PGEMBED_BENCH_OPENAI_KEY';
const GOAL = 4;
/** `--only pgembed` or `--only langchain`: one side alone, for profiling (no ratio then). */
const ONLY = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const SIDES: ('langchain' | number)[] = [
  ...(ONLY === 'pgembed' ? [] : (['langchain'] as const)),
  ...(ONLY === 'langchain' ? [] : CONCURRENCIES),
];
/** `--profile DIR`: the worker process writes a V8 CPU profile there (open it in Chrome DevTools). */
const PROFILE_DIR = process.argv.includes('--profile')
  ? process.argv[process.argv.indexOf('--profile') + 1]
  : undefined;

/**
 * `@langchain/openai`'s OpenAIEmbeddings (published code, restated: the package is not installed
 * here): batches of 512, newlines stripped, at most 2 requests in flight, no SDK retries.
 */
class OpenAIEmbeddings extends Embeddings {
  private readonly batchSize = 512;
  constructor(
    private readonly client: OpenAI,
    private readonly model: string,
  ) {
    super({ maxConcurrency: 2 });
  }

  async embedDocuments(texts: string[]): Promise<number[][]> {
    const batches = chunkArray(
      texts.map((t) => t.replace(/\n/g, ' ')),
      this.batchSize,
    );
    const responses = await Promise.all(
      batches.map((input) =>
        this.caller.call(() => this.client.embeddings.create({ model: this.model, input })),
      ),
    );
    const embeddings: number[][] = [];
    responses.forEach(({ data }, i) => {
      for (let j = 0; j < batches[i]!.length; j++) embeddings.push(data[j]!.embedding);
    });
    return embeddings;
  }

  async embedQuery(text: string): Promise<number[]> {
    const { data } = await this.client.embeddings.create({
      model: this.model,
      input: text.replace(/\n/g, ' '),
    });
    return data[0]!.embedding;
  }
}

/** `@langchain/community`'s PGVectorStore: initialize + createHnswIndex (untimed), addDocuments (timed). */
async function langchainRound(
  url: string,
  dataDir: string | null,
  docs: MarkdownDocument[],
  baseUrl: string,
): Promise<Side> {
  const pool = new pg.Pool({ connectionString: url });
  const held = await pool.connect(); // initialize() keeps one client checked out
  try {
    await pool.query('CREATE EXTENSION IF NOT EXISTS vector;');
    await pool.query(`
      CREATE TABLE IF NOT EXISTS langchain_pg (
        "id" uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
        "text" text,
        "metadata" jsonb,
        "embedding" vector(${DIMENSIONS})
      );`);
    await pool.query(`CREATE INDEX IF NOT EXISTS embedding_embedding_hnsw_idx
        ON langchain_pg USING hnsw ((embedding::vector(${DIMENSIONS})) vector_cosine_ops)
        WITH (m=16, ef_construction=64);`);
    await pool.query('CHECKPOINT');
    const embeddings = new OpenAIEmbeddings(
      new OpenAI({ apiKey: EMULATOR_KEY, baseURL: baseUrl, maxRetries: 0 }),
      MODEL,
    );
    const splitter = new RecursiveCharacterTextSplitter({ chunkSize: 1_600, chunkOverlap: 200 });
    const cpuBefore = cpuSnapshot(dataDir);
    const began = now();
    const chunks = await splitter.splitDocuments(
      docs.map((doc) => new Document({ pageContent: doc.text, metadata: { source: doc.name } })),
    );
    // addDocuments → addVectors, as published.
    const vectors = await embeddings.embedDocuments(chunks.map((chunk) => chunk.pageContent));
    const rows = chunks.map((chunk, i) => [
      chunk.pageContent.replace(/\0/g, ''),
      `[${vectors[i]!.join(',')}]`.replace(/\0/g, ''),
      chunk.metadata,
    ]);
    for (let i = 0; i < rows.length; i += 500) {
      const slice = rows.slice(i, i + 500);
      const values = slice.map((_, j) => `($${j * 3 + 1}, $${j * 3 + 2}, $${j * 3 + 3})`).join(', ');
      await pool.query(
        `
      INSERT INTO langchain_pg(
        "text", "embedding", "metadata"
      )
      VALUES ${values}
    `,
        slice.flat(),
      );
    }
    const seconds = (now() - began) / 1000;
    const cpuAfter = cpuSnapshot(dataDir);
    return {
      seconds,
      chunks: chunks.length,
      clientCpuUs: cpuAfter.nodeUs - cpuBefore.nodeUs,
      postgresCpuUs: delta(cpuBefore.postgresUs, cpuAfter.postgresUs),
    };
  } finally {
    held.release();
    await pool.end();
  }
}

async function pgembedRound(
  url: string,
  dataDir: string | null,
  docs: MarkdownDocument[],
  baseUrl: string,
  concurrency: number,
): Promise<Side> {
  const db = createPostgresDatabase({ connectionString: url, max: 2, applicationName: 'pgembed-bench' });
  try {
    await migrate(db);
    await db.exec('CREATE TABLE articles (id int PRIMARY KEY, name text NOT NULL, body text NOT NULL)');
    await db.query('INSERT INTO articles SELECT * FROM unnest($1::int[], $2::text[], $3::text[])', [
      docs.map((_, i) => i + 1),
      docs.map((doc) => doc.name),
      docs.map((doc) => doc.text),
    ]);
    await db.exec('VACUUM ANALYZE articles');
    const worker = await startWorkerProcess(url, {
      until: 'idle',
      concurrency,
      env: { [KEY_ENV]: EMULATOR_KEY },
      nodeArgs: PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : [],
    });
    let indexBuildMs: number | null = null;
    worker.stdout?.on('data', (data: Buffer) => {
      const built = /index-built ([\d.]+)/.exec(data.toString());
      if (built) indexBuildMs = Number(built[1]);
    });
    try {
      await db.exec('CHECKPOINT');
      const cpuBefore = cpuSnapshot(dataDir);
      const workerBefore = processCpuUs(worker.pid!, false);
      const began = now();
      const enabled = await enableDocumentChunking(db, {
        table: 'articles',
        column: 'body',
        chunkStrategy: 'markdown',
        provider: 'openai',
        model: MODEL,
        baseUrl,
        apiKeyEnv: KEY_ENV,
        ...(DEFER_INDEX_ROWS === undefined ? {} : { deferIndexRows: DEFER_INDEX_ROWS }),
      });
      // The queue empty while the indexes are still deferred: the write phase is over, the build begins.
      let written: { seconds: number; postgresCpuUs: number | null; clientCpuUs: number } | undefined;
      for (;;) {
        const { rows } = await db.query<{ drained: boolean; live: boolean }>(
          `SELECT NOT EXISTS (SELECT 1 FROM pgembed.queue q WHERE q.pipeline = p.name)
                  AND NOT EXISTS (SELECT 1 FROM pgembed.queue_log l WHERE l.pipeline = p.name) AS drained,
                  p.index_state = 'live' AS live
           FROM pgembed.pipelines p WHERE p.name = $1`,
          [enabled.pipeline],
        );
        if (rows[0]?.drained && !written) {
          written = {
            seconds: (now() - began) / 1000,
            postgresCpuUs: delta(cpuBefore.postgresUs, cpuSnapshot(dataDir).postgresUs),
            clientCpuUs: processCpuUs(worker.pid!, false) - workerBefore,
          };
        }
        if (rows[0]?.drained && rows[0].live) break;
        if (now() - began > 15 * 60_000)
          throw new Error('pgembed did not finish the backfill within 15 minutes');
        await sleep(20);
      }
      const seconds = (now() - began) / 1000;
      const cpuAfter = cpuSnapshot(dataDir);
      const workerAfter = processCpuUs(worker.pid!, false);
      const { rows } = await db.query<{ chunks: number; failed: number }>(
        `SELECT (SELECT count(*)::int FROM ${enabled.chunk_table}) AS chunks,
                (SELECT count(*)::int FROM pgembed.errors) AS failed`,
      );
      if (rows[0]!.failed > 0) throw new Error(`pgembed recorded ${rows[0]!.failed} errors`);
      return {
        seconds,
        chunks: rows[0]!.chunks,
        clientCpuUs: workerAfter - workerBefore,
        postgresCpuUs: delta(cpuBefore.postgresUs, cpuAfter.postgresUs),
        indexState: enabled.index_state,
        indexBuildMs,
        written,
      };
    } finally {
      await stopWorkerProcess(worker);
    }
  } finally {
    await db.close();
  }
}

interface Side {
  seconds: number;
  chunks: number;
  clientCpuUs: number;
  postgresCpuUs: number | null;
  /** pgembed: the index state enable chose, and how long the deferred build took. */
  indexState?: string;
  indexBuildMs?: number | null;
  /** pgembed: when the queue was empty (all chunks written), and the CPU spent until then. */
  written?: { seconds: number; postgresCpuUs: number | null; clientCpuUs: number } | undefined;
}

const mean = (values: number[]) => values.reduce((sum, v) => sum + v, 0) / values.length;

const delta = (before: number | null, after: number | null) =>
  before === null || after === null ? null : after - before;

async function main(): Promise<void> {
  const docs = markdownDocuments(DOCS);
  const megabytes = sourceBytes(docs) / 1e6;
  const cluster = await startCluster({ durable: true });
  const server = await startOpenAIProcess();
  const langchain: Side[] = [];
  const pgembed = new Map<number, Side[]>(CONCURRENCIES.map((c) => [c, []]));
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const side of SIDES) {
        const runs = side === 'langchain' ? langchain : pgembed.get(side)!;
        const database = await createTestDatabase(
          cluster.adminUrl,
          side === 'langchain' ? 'bench_langchain' : 'bench_pgembed',
        );
        try {
          runs.push(
            side === 'langchain'
              ? await langchainRound(database.url, cluster.dataDir, docs, server.baseUrl)
              : await pgembedRound(database.url, cluster.dataDir, docs, server.baseUrl, side),
          );
        } finally {
          await database.drop();
        }
        const last = runs.at(-1)!;
        console.error(
          `round ${round + 1} ${side === 'langchain' ? side : `pgembed (concurrency ${side})`}: ${last.seconds.toFixed(2)} s, ${last.chunks} chunks, ${(megabytes / last.seconds).toFixed(3)} MB/s` +
            (last.indexBuildMs ? ` (index build ${(last.indexBuildMs / 1000).toFixed(2)} s)` : '') +
            `, CPU client ${(last.clientCpuUs / 1e6).toFixed(2)} s, PostgreSQL ${((last.postgresCpuUs ?? 0) / 1e6).toFixed(2)} s` +
            (last.written
              ? `; written at ${last.written.seconds.toFixed(2)} s with CPU client ${(last.written.clientCpuUs / 1e6).toFixed(2)} s, PostgreSQL ${((last.written.postgresCpuUs ?? 0) / 1e6).toFixed(2)} s`
              : ''),
        );
      }
    }
  } finally {
    await stopWorkerProcess(server.child);
    await cluster.stop();
  }
  const mbps = (sides: Side[]) => megabytes / mean(sides.map((s) => s.seconds));
  const cpuPerMb = (sides: Side[], pick: (s: Side) => number | null) => {
    const values = sides.map(pick);
    return values.some((v) => v === null) ? null : mean(values as number[]) / 1e6 / megabytes;
  };
  const info = (metric: string, mine: number | null, theirs: number | null) =>
    mine === null || theirs === null
      ? []
      : [
          {
            metric,
            pgembed: mine,
            baseline: theirs,
            unit: 's CPU/MB',
            ratio: mine / theirs,
            goal: 'info',
            met: null,
          },
        ];
  const rows = [...pgembed].flatMap(([concurrency, sides]) => {
    const ratio = mbps(sides) / mbps(langchain);
    const client = cpuPerMb(sides, (s) => s.clientCpuUs);
    const postgres = cpuPerMb(sides, (s) => s.postgresCpuUs);
    const theirClient = cpuPerMb(langchain, (s) => s.clientCpuUs);
    const theirPostgres = cpuPerMb(langchain, (s) => s.postgresCpuUs);
    const c = `concurrency ${concurrency}`;
    return [
      {
        metric: `backfill ${DOCS} Markdown docs (${megabytes.toFixed(2)} MB), 1 worker (${c}) vs LangChain.js`,
        pgembed: mbps(sides),
        baseline: mbps(langchain),
        unit: 'MB/s',
        ratio,
        goal: `≥ ${GOAL}×`,
        met: ratio >= GOAL,
      },
      ...info(`${c}: CPU client (worker process / LangChain process)`, client, theirClient),
      ...info(`${c}: CPU PostgreSQL`, postgres, theirPostgres),
      ...info(
        `${c}: CPU client + PostgreSQL`,
        client !== null && postgres !== null ? client + postgres : null,
        theirClient !== null && theirPostgres !== null ? theirClient + theirPostgres : null,
      ),
    ];
  });
  report('ingest-langchain', rows, {
    quick,
    docs: DOCS,
    megabytes,
    rounds: ROUNDS,
    pgembed: Object.fromEntries(
      [...pgembed].map(([c, sides]) => [c, sides.map((s) => ({ ...s, mbps: megabytes / s.seconds }))]),
    ),
    langchain: langchain.map((s) => ({ ...s, mbps: megabytes / s.seconds })),
  });
}

await main();
