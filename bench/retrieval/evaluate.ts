/**
 * Retrieval evaluation: 130 questions phrased as users ask them, each labelled with the manual page
 * that answers it, over the SQL command reference of the PostgreSQL 15 manual (bench/retrieval/corpus.ts),
 * embedded with the offline `local` model (all-MiniLM-L6-v2). Scores vector-only, full-text-only and
 * hybrid search, ranking documents (best chunk per document), by Recall@1, Recall@5 and MRR@10.
 *
 *   apt-get install postgresql-doc-15      # the corpus
 *   npm run bench:retrieval                # first run embeds the corpus (a few minutes), later runs reuse it
 *
 * The embedded database lives in .pgembed/retrieval-eval (git-ignored); delete it to start over.
 * Prints a Markdown table, then one JSON line.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createPgembed } from '../../src/index.js';
import { findPipeline } from '../../src/pipelines/pipeline.js';
import { createProvider } from '../../src/providers/index.js';
import {
  type HybridOptions,
  hybridSearch,
  type SearchResult,
  searchByVector,
} from '../../src/search/search.js';
import { loadCorpus } from './corpus.js';

interface Question {
  q: string;
  gold: string;
}

const DATA_DIR = process.env.PGEMBED_RETRIEVAL_DIR ?? '.pgembed/retrieval-eval';
const K = 10;
const questions = JSON.parse(
  readFileSync(new URL('./questions.json', import.meta.url), 'utf8'),
) as Question[];
const corpus = loadCorpus();
const fingerprint = createHash('sha256').update(JSON.stringify(corpus)).digest('hex').slice(0, 16);

// The corpus is embedded once into a cache database (the slow part); every run then evaluates on a
// fresh in-memory database migrated with the current code, loaded with the cached chunks, so the
// search SQL measured is always the SQL in this checkout.
const cache = await createPgembed({ dataDir: DATA_DIR });
await cache.db.exec(`CREATE TABLE IF NOT EXISTS eval_meta (fingerprint text)`);
const { rows: meta } = await cache.db.query<{ fingerprint: string }>(`SELECT fingerprint FROM eval_meta`);
if (meta[0]?.fingerprint !== fingerprint) {
  console.error(`embedding ${corpus.length} pages with the local model (a few minutes on 2 cores)…`);
  await cache.db.exec(`DELETE FROM eval_meta`);
  const { rows: existing } = await cache.db.query(`SELECT 1 FROM pgembed.pipelines WHERE name = 'pgdocs'`);
  if (existing.length) await cache.db.query(`SELECT pgembed.drop_pipeline('pgdocs', true)`);
  await cache.db.exec(
    `DROP TABLE IF EXISTS pgdocs; CREATE TABLE pgdocs (slug text PRIMARY KEY, body text NOT NULL)`,
  );
  await cache.db.query(`INSERT INTO pgdocs SELECT * FROM unnest($1::text[], $2::text[])`, [
    corpus.map((d) => d.slug),
    corpus.map((d) => d.body),
  ]);
  await cache.enable({
    table: 'pgdocs',
    column: 'body',
    provider: 'local',
    chunkSize: 200,
    chunkOverlap: 30,
  });
  const began = Date.now();
  const worker = await cache.startWorker({ concurrency: 1, batchSize: 16 });
  await worker.drain({ timeoutMs: 3_600_000 });
  await worker.stop();
  console.error(`embedded in ${((Date.now() - began) / 1000).toFixed(0)} s`);
  await cache.db.query(`INSERT INTO eval_meta VALUES ($1)`, [fingerprint]);
}

// Query embeddings, cached beside the corpus.
await cache.db.exec(
  `CREATE TABLE IF NOT EXISTS eval_queries (q text PRIMARY KEY, embedding vector(384) NOT NULL)`,
);
const { rows: cached } = await cache.db.query<{ q: string; embedding: string }>(
  `SELECT q, embedding::text AS embedding FROM eval_queries`,
);
const vectors = new Map(cached.map((r) => [r.q, JSON.parse(r.embedding) as number[]]));
const missing = questions.map((x) => x.q).filter((q) => !vectors.has(q));
if (missing.length) {
  const provider = createProvider({ provider: 'local', model: 'all-MiniLM-L6-v2' });
  const embedded = await provider.embed(missing, { inputType: 'query' });
  await provider.close?.();
  for (const [i, q] of missing.entries()) {
    vectors.set(q, embedded[i]!);
    await cache.db.query(`INSERT INTO eval_queries VALUES ($1, $2::vector)`, [
      q,
      `[${embedded[i]!.join(',')}]`,
    ]);
  }
}
const CHUNK_COLUMNS = `doc_slug, chunk_index, content, token_count, start_char, end_char, embedding, model, content_hash`;
const { rows: chunkRows } = await cache.db.query<Record<string, unknown>>(
  `SELECT doc_slug, chunk_index, content, token_count, start_char, end_char, embedding::text AS embedding, model, content_hash FROM pgdocs_chunks`,
);
const { rows: docRows } = await cache.db.query<{ slug: string; body: string }>(
  `SELECT slug, body FROM pgdocs`,
);
await cache.close();

const pg = await createPgembed({ dataDir: 'memory://' });
const db = pg.db;
await db.exec(`CREATE TABLE pgdocs (slug text PRIMARY KEY, body text NOT NULL)`);
await db.query(`INSERT INTO pgdocs SELECT * FROM unnest($1::text[], $2::text[])`, [
  docRows.map((d) => d.slug),
  docRows.map((d) => d.body),
]);
await pg.enable({
  table: 'pgdocs',
  column: 'body',
  provider: 'local',
  chunkSize: 200,
  chunkOverlap: 30,
  backfill: false,
});
const column = (name: string) => chunkRows.map((r) => r[name]);
await db.query(
  `INSERT INTO pgdocs_chunks (${CHUNK_COLUMNS})
   SELECT a, b, c, d, e, f, g::vector, h, i
   FROM unnest($1::text[], $2::int[], $3::text[], $4::int[], $5::int[], $6::int[], $7::text[], $8::text[], $9::text[])
        AS t(a, b, c, d, e, f, g, h, i)`,
  [
    column('doc_slug'),
    column('chunk_index'),
    column('content'),
    column('token_count'),
    column('start_char'),
    column('end_char'),
    column('embedding'),
    column('model'),
    column('content_hash'),
  ],
);
const pipeline = await findPipeline(db, { pipeline: 'pgdocs' });
const counts = [{ chunks: chunkRows.length }];

type Run = (q: string, v: number[]) => Promise<SearchResult[]>;
const hybrid =
  (text: boolean, vector: boolean, options: HybridOptions): Run =>
  (q, v) =>
    hybridSearch(db, pipeline, text ? q : null, vector ? v : null, {
      k: K,
      groupByDocument: true,
      hybrid: options,
    });
const CONFIGS: [string, Run][] = [
  ['vector only', (_q, v) => searchByVector(db, pipeline, v, { k: K, groupByDocument: true })],
  ['full text only, every word (websearch_to_tsquery)', hybrid(true, false, { textMatch: 'all' })],
  ['full text only, any word', hybrid(true, false, { textMatch: 'any' })],
  ['full text only, auto: every word, else any', hybrid(true, false, { textMatch: 'auto' })],
  ['hybrid RRF k=60, text every word (naive)', hybrid(true, true, { textMatch: 'all', rrfK: 60 })],
  ['hybrid RRF k=60, text any word', hybrid(true, true, { textMatch: 'any', fallbackWeight: 1, rrfK: 60 })],
  ['hybrid RRF k=60, text auto, fallback weight 1', hybrid(true, true, { fallbackWeight: 1, rrfK: 60 })],
  ['hybrid RRF k=60, text auto, fallback weight 0.5', hybrid(true, true, { fallbackWeight: 0.5, rrfK: 60 })],
  [
    'hybrid RRF k=60, text auto, fallback weight 0.25',
    hybrid(true, true, { fallbackWeight: 0.25, rrfK: 60 }),
  ],
  ['hybrid RRF k=60, text auto, fallback weight 0.1', hybrid(true, true, { fallbackWeight: 0.1, rrfK: 60 })],
  [
    'hybrid RRF k=60, text every word, vector weight 1.5',
    hybrid(true, true, { textMatch: 'all', vectorWeight: 1.5, rrfK: 60 }),
  ],
  ['hybrid RRF k=20, text every word', hybrid(true, true, { textMatch: 'all', rrfK: 20 })],
  [
    'hybrid RRF k=40, text auto, fallback weight 0.25',
    hybrid(true, true, { fallbackWeight: 0.25, rrfK: 40 }),
  ],
  [
    'hybrid, defaults: RRF k=20, text auto, fallback weight 0.25 (search() with no options)',
    hybrid(true, true, {}),
  ],
];

interface Score {
  config: string;
  recallAt1: number;
  recallAt5: number;
  mrrAt10: number;
  reciprocalRanks: number[];
}
const scores: Score[] = [];
for (const [config, run] of CONFIGS) {
  const rr: number[] = [];
  for (const { q, gold } of questions) {
    const results = await run(q, vectors.get(q)!);
    const rank = results.findIndex((r) => r.documentKey[0] === gold) + 1;
    rr.push(rank > 0 && rank <= K ? 1 / rank : 0);
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  scores.push({
    config,
    recallAt1: mean(rr.map((x) => (x === 1 ? 1 : 0))),
    recallAt5: mean(rr.map((x) => (x >= 1 / 5 ? 1 : 0))),
    mrrAt10: mean(rr),
    reciprocalRanks: rr,
  });
}

// Paired difference of MRR@10 with vector-only, with its standard error over questions.
const base = scores[0]!.reciprocalRanks;
const paired = (rr: number[], f: (x: number) => number = (x) => x) => {
  const d = rr.map((x, i) => f(x) - f(base[i]!));
  const m = d.reduce((a, b) => a + b, 0) / d.length;
  const sd = Math.sqrt(d.reduce((a, b) => a + (b - m) ** 2, 0) / (d.length - 1));
  return { delta: m, se: sd / Math.sqrt(d.length) };
};

console.log(
  `\n${questions.length} questions, ${corpus.length} documents, ${counts[0]!.chunks} chunks, model ${pipeline.model}, k=${K}, best chunk per document\n`,
);
console.log(
  '| configuration | Recall@1 | Recall@5 | MRR@10 | ΔRecall@5 vs vector (± s.e.) | ΔMRR@10 vs vector (± s.e.) |',
);
console.log('|---|---|---|---|---|---|');
for (const s of scores) {
  const fmt = ({ delta, se }: { delta: number; se: number }) =>
    s === scores[0] ? '—' : `${delta >= 0 ? '+' : ''}${delta.toFixed(3)} ± ${se.toFixed(3)}`;
  const at5 = paired(s.reciprocalRanks, (x) => (x >= 1 / 5 ? 1 : 0));
  console.log(
    `| ${s.config} | ${s.recallAt1.toFixed(3)} | ${s.recallAt5.toFixed(3)} | ${s.mrrAt10.toFixed(3)} | ${fmt(at5)} | ${fmt(paired(s.reciprocalRanks))} |`,
  );
}
console.log(
  JSON.stringify({
    bench: 'retrieval',
    questions: questions.length,
    documents: corpus.length,
    chunks: counts[0]!.chunks,
    results: scores.map(({ reciprocalRanks, ...s }) => ({ ...s, ...paired(reciprocalRanks) })),
  }),
);
await pg.close();
