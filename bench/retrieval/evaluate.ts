/**
 * Retrieval evaluation over the PostgreSQL 15 manual (bench/retrieval/corpus.ts: the SQL command
 * reference and ten chapters, whole pages as Markdown), with questions phrased as users ask them
 * (bench/retrieval/questions.json), each labelled with the page that answers it. Page-level scoring:
 * a page's rank is that of its best chunk; Recall@1, Recall@5, MRR@10.
 *
 * The questions are split once, by a hash of their text, into a dev half (for choosing settings) and a
 * held-out half (reported, never tuned on). Every difference comes with a 95 % paired-bootstrap
 * interval over questions.
 *
 * Compared, in one run and with the same model:
 * - the naive pipeline everyone writes first: LangChain's RecursiveCharacterTextSplitter(1000, 200)
 *   over the same text, exact cosine, page = best chunk;
 * - chunking variants of pgembed (strategy, size, overlap, context), vector only, exact cosine;
 * - ways of scoring a page from its chunks (best chunk, best plus the next ones);
 * - pgembed's defaults end to end: a pipeline declared with nothing but table and column, through the
 *   real search SQL (`searchByVector`, `hybridSearch`) on PGlite, vector-only and hybrid;
 * - the two local models (fp32 and int8 weights) on the defaults and on the naive pipeline.
 *
 *   apt-get install postgresql-doc-15      # the corpus
 *   npm run bench:retrieval                # first run embeds each variant (minutes), later runs reuse the cache
 *
 * Embeddings are cached by text under .pgembed/retrieval-eval (git-ignored), one file per model, so a
 * chunk shared by variants is embedded once. Prints Markdown tables, then one JSON line.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RecursiveCharacterTextSplitter } from '@langchain/textsplitters';
import { embeddingText } from '../../src/chunking/index.js';
import type { Database } from '../../src/db/types.js';
import { createPgembed } from '../../src/index.js';
import { type EnableOptions, enableDocumentChunking } from '../../src/pipelines/enable.js';
import { findPipeline, type Pipeline } from '../../src/pipelines/pipeline.js';
import { LOCAL_INT8_MODEL, LOCAL_MODEL } from '../../src/providers/local.js';
import { type HybridOptions, hybridSearch, searchByVector } from '../../src/search/search.js';
import { chunkDocumentWithSections } from '../../src/worker/chunkDocument.js';
import { openBenchDatabase } from '../support/common.js';
import { type CorpusDocument, loadCorpus, plainText } from './corpus.js';
import { EmbeddingCache } from './embeddings.js';
import { formatDifference, K, type Metric, pairedDifference, score } from './stats.js';

interface Question {
  q: string;
  gold: string;
}
type Split = 'dev' | 'held-out';

const DATA_DIR = process.env.PGEMBED_RETRIEVAL_DIR ?? '.pgembed/retrieval-eval';
const ONLY_DEV = process.argv.includes('--dev');
/** Skips the other model (embedding the corpus twice more with it): for quick iterations. */
const SKIP_MODELS = process.argv.includes('--skip-models');
const questions = JSON.parse(
  readFileSync(new URL('./questions.json', import.meta.url), 'utf8'),
) as Question[];
/** Fixed by the question's text, so adding questions never moves one between halves. */
const splitOf = (q: string): Split =>
  (createHash('sha256').update(q).digest()[0]! & 1) === 0 ? 'dev' : 'held-out';
const corpus = loadCorpus();
const slugs = new Set(corpus.map((d) => d.slug));
for (const { q, gold } of questions) {
  if (!slugs.has(gold)) throw new Error(`question "${q}": gold page ${gold} is not in the corpus`);
}

interface EvalChunk {
  slug: string;
  /** What the embedder reads. */
  text: string;
  /** What full-text search and the chunk table see (the source span). */
  row?: ReturnType<typeof chunkDocumentWithSections>['chunks'][number];
}

interface ChunkingVariant {
  name: string;
  /** The text of the document as stored in the column. */
  format: 'markdown' | 'plain';
  chunk(doc: CorpusDocument, body: string): EvalChunk[];
}

type Settings = Pick<Pipeline, 'chunkStrategy' | 'chunkSize' | 'chunkOverlap' | 'chunkOptions'>;

const pgembedChunking = (settings: Settings) => (doc: CorpusDocument, body: string) =>
  chunkDocumentWithSections({ ...settings, provider: 'local', model: LOCAL_MODEL }, body, null).chunks.map(
    (row) => ({ slug: doc.slug, text: embeddingText(row), row }),
  );
const pgembedVariant = (
  strategy: string,
  size: number,
  overlap: number,
  context?: boolean,
  format: 'markdown' | 'plain' = 'markdown',
): ChunkingVariant => ({
  name: `pgembed ${strategy} ${size}/${overlap}${context === undefined ? '' : context ? ', context' : ', no context'}${format === 'plain' ? ', plain text' : ''}`,
  format,
  chunk: pgembedChunking({
    chunkStrategy: strategy,
    chunkSize: size,
    chunkOverlap: overlap,
    chunkOptions: context === undefined ? {} : { context },
  }),
});
const langchain = new RecursiveCharacterTextSplitter({ chunkSize: 1000, chunkOverlap: 200 });
const naive = (format: 'markdown' | 'plain' = 'markdown'): ChunkingVariant => ({
  name: `naive: LangChain RecursiveCharacterTextSplitter(1000, 200)${format === 'plain' ? ', plain text' : ''}`,
  format,
  chunk: () => [],
});
const NAIVE = naive();

// --- What the defaults are: read from a pipeline declared with nothing but table and column. ---
const probe = await createPgembed({ dataDir: 'memory://' });
await probe.db.exec(`CREATE TABLE pgdocs (slug text PRIMARY KEY, body text NOT NULL)`);
const declared = await probe.enable({ table: 'pgdocs', column: 'body', backfill: false });
const defaultsPipeline = await findPipeline(probe.db, { pipeline: 'pgdocs' });
await probe.close();
const DEFAULTS: ChunkingVariant = {
  name: `pgembed defaults (${declared.chunk_strategy} ${declared.chunk_size}/${declared.chunk_overlap}, ${declared.model})`,
  format: 'markdown',
  chunk: pgembedChunking(defaultsPipeline),
};
const PREVIOUS_DEFAULTS = pgembedVariant('token', 254, 50);

const VARIANTS: ChunkingVariant[] = [
  NAIVE,
  PREVIOUS_DEFAULTS,
  pgembedVariant('recursive', 128, 16),
  pgembedVariant('markdown', 254, 50, true),
  pgembedVariant('markdown', 192, 32, true),
  pgembedVariant('markdown', 128, 16, true),
  pgembedVariant('markdown', 128, 16, false),
  pgembedVariant('markdown', 96, 16, true),
  naive('plain'),
  pgembedVariant('token', 254, 50, undefined, 'plain'),
  pgembedVariant('markdown', 96, 16, undefined, 'plain'),
];
VARIANTS.splice(1, 0, DEFAULTS);

const bodyOf = (doc: CorpusDocument, format: 'markdown' | 'plain') =>
  format === 'markdown' ? doc.body : plainText(doc.body);

async function chunksOf(variant: ChunkingVariant): Promise<EvalChunk[]> {
  const out: EvalChunk[] = [];
  for (const doc of corpus) {
    const body = bodyOf(doc, variant.format);
    if (variant.name.startsWith('naive')) {
      for (const text of await langchain.splitText(body)) out.push({ slug: doc.slug, text });
    } else {
      out.push(...variant.chunk(doc, body));
    }
  }
  return out;
}

// --- Embeddings (cached by text, per model). ---
const caches = new Map<string, EmbeddingCache>();
const cacheOf = (model: string) => {
  let cache = caches.get(model);
  if (!cache) {
    cache = new EmbeddingCache(join(DATA_DIR, `embeddings-${model}.bin`), model);
    caches.set(model, cache);
  }
  return cache;
};
const MODEL = declared.model;
const OTHER_MODEL = MODEL === LOCAL_INT8_MODEL ? LOCAL_MODEL : LOCAL_INT8_MODEL;

const evaluated = questions.filter((x) => !ONLY_DEV || splitOf(x.q) === 'dev');

/** Pages ranked for each question from exact cosine over the chunks, a page scored from its chunks. */
type Aggregate = (sorted: number[]) => number;
const BEST: Aggregate = (s) => s[0]!;

async function rankPages(
  chunks: EvalChunk[],
  model: string,
  aggregate: Aggregate = BEST,
): Promise<{ ranks: number[]; top: string[][] }> {
  const cache = cacheOf(model);
  await cache.fill(
    chunks.map((c) => c.text),
    `${chunks.length} chunks`,
  );
  await cache.fill(
    evaluated.map((x) => x.q),
    'questions',
  );
  const vectors = chunks.map((c) => cache.get(c.text));
  const ranks: number[] = [];
  const top: string[][] = [];
  for (const { q, gold } of evaluated) {
    const query = cache.get(q);
    const perPage = new Map<string, number[]>();
    chunks.forEach((chunk, i) => {
      const v = vectors[i]!;
      let dot = 0;
      for (let d = 0; d < 384; d++) dot += v[d]! * query[d]!;
      const list = perPage.get(chunk.slug);
      if (list) list.push(dot);
      else perPage.set(chunk.slug, [dot]);
    });
    const pages = [...perPage.entries()]
      .map(([slug, scores]) => ({ slug, score: aggregate(scores.sort((a, b) => b - a)) }))
      .sort((a, b) => b.score - a.score);
    const rank = pages.findIndex((p) => p.slug === gold) + 1;
    ranks.push(rank > 0 && rank <= K ? rank : 0);
    top.push(pages.slice(0, 50).map((p) => p.slug));
  }
  return { ranks, top };
}

interface Row {
  section: string;
  config: string;
  chunks: number;
  ranks: number[];
}
const rows: Row[] = [];

// 1. Chunking variants, vector only, best chunk per page.
const chunked = new Map<ChunkingVariant, EvalChunk[]>();
for (const variant of VARIANTS) {
  const chunks = await chunksOf(variant);
  chunked.set(variant, chunks);
  const { ranks } = await rankPages(chunks, MODEL);
  rows.push({ section: 'chunking', config: variant.name, chunks: chunks.length, ranks });
}
const naiveRanks = rows[0]!.ranks;

// 2. Page scores from more than the best chunk, on the defaults' chunks.
const defaultChunks = chunked.get(DEFAULTS) ?? (await chunksOf(DEFAULTS));
const AGGREGATES: [string, Aggregate][] = [
  ['best chunk', BEST],
  ['best + 0.25 × second', (s) => s[0]! + 0.25 * (s[1] ?? 0)],
  ['best + 0.5 × second', (s) => s[0]! + 0.5 * (s[1] ?? 0)],
  ['best + 0.1 × (second + third)', (s) => s[0]! + 0.1 * ((s[1] ?? 0) + (s[2] ?? 0))],
  ['mean of the best 3', (s) => (s[0]! + (s[1] ?? s[0]!) + (s[2] ?? s[1] ?? s[0]!)) / 3],
];
for (const [name, aggregate] of AGGREGATES) {
  const { ranks } = await rankPages(defaultChunks, MODEL, aggregate);
  rows.push({ section: 'page score', config: `defaults, ${name}`, chunks: defaultChunks.length, ranks });
}

// 3. The defaults end to end, through pgembed's search SQL.
async function sqlRuns(
  variant: ChunkingVariant,
  chunks: EvalChunk[],
  label: string,
  settings: Pick<EnableOptions, 'chunkStrategy' | 'chunkSize' | 'chunkOverlap'> = {},
  prototypes = false,
) {
  const cache = cacheOf(MODEL);
  const db = server.db;
  const table = `pgdocs_${++tables}`;
  await db.exec(`CREATE TABLE ${table} (slug text PRIMARY KEY, body text NOT NULL)`);
  await db.query(`INSERT INTO ${table} SELECT * FROM unnest($1::text[], $2::text[])`, [
    corpus.map((d) => d.slug),
    corpus.map((d) => bodyOf(d, variant.format)),
  ]);
  await enableDocumentChunking(db, { table, column: 'body', backfill: false, ...settings });
  const pipeline = await findPipeline(db, { pipeline: table });
  const ordinal = new Map<string, number>();
  const index = chunks.map((c) => {
    const i = ordinal.get(c.slug) ?? 0;
    ordinal.set(c.slug, i + 1);
    return i;
  });
  await db.query(
    `INSERT INTO ${table}_chunks (doc_slug, chunk_index, content, token_count, start_char, end_char,
                                heading_path, context, embedding, model, content_hash)
     SELECT a, b, c, d, e, f, CASE WHEN g IS NULL THEN NULL ELSE ARRAY(SELECT jsonb_array_elements_text(g)) END,
            h, i::vector, $12, j
     FROM unnest($1::text[], $2::int[], $3::text[], $4::int[], $5::int[], $6::int[], $7::jsonb[], $8::text[],
                 $9::text[], $10::text[]) AS t(a, b, c, d, e, f, g, h, i, j)
     LIMIT $11`,
    [
      chunks.map((c) => c.slug),
      index,
      chunks.map((c) => c.row!.content),
      chunks.map((c) => c.row!.tokenCount),
      chunks.map((c) => c.row!.startChar),
      chunks.map((c) => c.row!.endChar),
      chunks.map((c) => (c.row!.headingPath ? JSON.stringify(c.row!.headingPath) : null)),
      chunks.map((c) => c.row!.context ?? null),
      chunks.map((c) => `[${Array.from(cache.get(c.text)).join(',')}]`),
      chunks.map((c) => createHash('sha256').update(c.text).digest('hex')),
      chunks.length,
      pipeline.model,
    ],
  );
  const run = async (search: (q: string, v: number[]) => Promise<{ documentKey: unknown[] }[]>) => {
    const ranks: number[] = [];
    for (const { q, gold } of evaluated) {
      const results = await search(q, Array.from(cache.get(q)));
      const rank = results.findIndex((r) => r.documentKey[0] === gold) + 1;
      ranks.push(rank > 0 && rank <= K ? rank : 0);
    }
    return ranks;
  };
  const hybrid =
    (options: HybridOptions, text = true) =>
    (q: string, v: number[]) =>
      hybridSearch(db, pipeline, text ? q : null, v, { k: K, groupByDocument: true, hybrid: options });
  const configs: [string, (q: string, v: number[]) => Promise<{ documentKey: unknown[] }[]>][] = [
    [
      'vector only (searchByVector)',
      (_q, v) => searchByVector(db, pipeline, v, { k: K, groupByDocument: true }),
    ],
    ['hybrid, search() defaults', hybrid({})],
    ['full text only, auto', (q) => hybridSearch(db, pipeline, q, null, { k: K, groupByDocument: true })],
  ];
  for (const [name, search] of configs) {
    rows.push({
      section: 'search SQL',
      config: `${label}: ${name}`,
      chunks: chunks.length,
      ranks: await run(search),
    });
  }
  // The HNSW index was built row by row; what search plans depend on is the statistics.
  await db.exec(`ANALYZE ${table}_chunks`);
  if (prototypes) await fusionPrototypes(db, pipeline, chunks);
}

/**
 * Ranking changes prototyped outside the search SQL: page rankings from exact vector scores (as
 * section 1) and from two full-text rankings — the pipeline's own (`hybridSearch` with no vector:
 * ts_rank_cd, all words else any word) and BM25 over the same tsvectors (k1 1.2, b 0.75, idf from
 * the chunk table) — fused by weighted reciprocal rank at the page level.
 */
async function fusionPrototypes(db: Database, pipeline: Pipeline, chunks: EvalChunk[]) {
  const vector = await rankPages(chunks, MODEL);
  // The pipeline's full-text ranking, pages by best chunk.
  const ownText: string[][] = [];
  for (const { q } of evaluated) {
    const results = await hybridSearch(db, pipeline, q, null, { k: 50, groupByDocument: true });
    ownText.push(results.map((r) => r.documentKey[0] as string));
  }
  // BM25: lexemes and their frequencies per chunk, from the same configuration as the GIN index.
  await db.exec(`
    CREATE TABLE bm25_terms AS
      SELECT c.id, c.doc_slug, t.lexeme, coalesce(array_length(t.positions, 1), 1) AS tf
      FROM ${pipeline.chunkTable} c, unnest(to_tsvector('english', c.content)) t;
    CREATE INDEX ON bm25_terms (lexeme);
    CREATE TABLE bm25_docs AS
      SELECT id, doc_slug, sum(tf)::float8 AS len FROM bm25_terms GROUP BY id, doc_slug;
    ANALYZE bm25_terms; ANALYZE bm25_docs;`);
  const bm25: string[][] = [];
  for (const { q } of evaluated) {
    const { rows: hits } = await db.query<{ slug: string }>(
      `WITH q AS (SELECT DISTINCT lexeme FROM unnest(to_tsvector('english', $1::text))),
            n AS (SELECT count(*)::float8 AS n, avg(len) AS avgdl FROM bm25_docs),
            df AS (SELECT t.lexeme, count(*)::float8 AS df FROM bm25_terms t JOIN q USING (lexeme) GROUP BY t.lexeme),
            scored AS (
              SELECT d.doc_slug, sum(ln(1 + (n.n - df.df + 0.5) / (df.df + 0.5))
                                     * t.tf * 2.2 / (t.tf + 1.2 * (0.25 + 0.75 * d.len / n.avgdl))) AS score
              FROM bm25_terms t JOIN df USING (lexeme) JOIN bm25_docs d USING (id) CROSS JOIN n
              GROUP BY t.id, d.doc_slug)
       SELECT doc_slug AS slug FROM scored GROUP BY doc_slug ORDER BY max(score) DESC LIMIT 50`,
      [q],
    );
    bm25.push(hits.map((h) => h.slug));
  }
  const rankIn = (list: string[], gold: string) => {
    const rank = list.indexOf(gold) + 1;
    return rank > 0 && rank <= K ? rank : 0;
  };
  const fuse = (text: string[][], weight: (q: string) => number, rrfK = 20) =>
    evaluated.map(({ q, gold }, i) => {
      const scores = new Map<string, number>();
      for (const [r, slug] of vector.top[i]!.entries()) scores.set(slug, 1 / (rrfK + r + 1));
      for (const [r, slug] of text[i]!.entries()) {
        scores.set(slug, (scores.get(slug) ?? 0) + weight(q) / (rrfK + r + 1));
      }
      const order = [...scores.entries()].sort((a, b) => b[1] - a[1]).map(([slug]) => slug);
      return rankIn(order, gold);
    });
  // "Keyword-ish": a command name or clause typed as such (mostly upper-case words), or ≤ 3 words.
  const keywordish = (q: string) => {
    const words = q.split(/\s+/);
    return words.length <= 3 || words.filter((w) => /^[A-Z_]{2,}$/.test(w)).length * 2 >= words.length;
  };
  const add = (config: string, ranks: number[]) =>
    rows.push({ section: 'fusion prototype', config, chunks: chunks.length, ranks });
  add('vector, exact (TypeScript)', vector.ranks);
  add(
    'full text, pipeline ranking (ts_rank_cd, auto)',
    evaluated.map(({ gold }, i) => rankIn(ownText[i]!, gold)),
  );
  add(
    'full text, BM25 over the same lexemes',
    evaluated.map(({ gold }, i) => rankIn(bm25[i]!, gold)),
  );
  for (const w of [0.25, 0.5, 1]) {
    add(
      `RRF k=20 vector + ${w} × pipeline full text (pages)`,
      fuse(ownText, () => w),
    );
    add(
      `RRF k=20 vector + ${w} × BM25 (pages)`,
      fuse(bm25, () => w),
    );
  }
  add(
    'RRF k=20 vector + BM25 × (1 keyword-ish, 0.25 otherwise)',
    fuse(bm25, (q) => (keywordish(q) ? 1 : 0.25)),
  );
  add(
    'RRF k=20 vector + pipeline full text × (1 keyword-ish, 0.25 otherwise)',
    fuse(ownText, (q) => (keywordish(q) ? 1 : 0.25)),
  );
}
// A private PostgreSQL cluster: PGlite's full-text ranking (WASM) took ~1 s per hybrid query here.
const server = await openBenchDatabase('retrieval', { durable: false });
let tables = 0;
await sqlRuns(DEFAULTS, defaultChunks, DEFAULTS.name, {}, true);
const defaultsChanged =
  `${declared.chunk_strategy} ${declared.chunk_size}/${declared.chunk_overlap}` !== 'token 254/50';
if (chunked.has(PREVIOUS_DEFAULTS) && defaultsChanged) {
  await sqlRuns(PREVIOUS_DEFAULTS, chunked.get(PREVIOUS_DEFAULTS)!, 'previous defaults (token 254/50)', {
    chunkStrategy: 'token',
    chunkSize: 254,
    chunkOverlap: 50,
  });
}

await server.close();

// 4. The other local model on the naive pipeline and the previous defaults (the fp32 model's
// defaults until 0014).
for (const variant of SKIP_MODELS ? [] : [NAIVE, PREVIOUS_DEFAULTS]) {
  const chunks = chunked.get(variant) ?? (await chunksOf(variant));
  const { ranks } = await rankPages(chunks, OTHER_MODEL);
  rows.push({
    section: 'model',
    config: `${variant.name}, model ${OTHER_MODEL}`,
    chunks: chunks.length,
    ranks,
  });
}

// --- Report. ---
const halves: [string, (q: Question) => boolean][] = [
  ['dev', (x) => splitOf(x.q) === 'dev'],
  ...(ONLY_DEV
    ? []
    : ([['held-out', (x: Question) => splitOf(x.q) === 'held-out']] as [string, (q: Question) => boolean][])),
  ...(ONLY_DEV ? [] : ([['all', () => true]] as [string, (q: Question) => boolean][])),
];
const metrics: Metric[] = ['R@1', 'R@5', 'MRR@10'];
const summary: Record<string, unknown>[] = [];
console.log(
  `\n${evaluated.length} questions (${evaluated.filter((x) => splitOf(x.q) === 'dev').length} dev), ${corpus.length} pages, k=${K}, page-level, model ${MODEL} unless named`,
);
for (const [half, keep] of halves) {
  const mask = evaluated.map(keep);
  const pick = (ranks: number[]) => ranks.filter((_, i) => mask[i]);
  const base = pick(naiveRanks);
  console.log(
    `\n### ${half} (${base.length} questions); Δ against the naive pipeline, 95 % paired-bootstrap interval\n`,
  );
  console.log('| section | configuration | chunks | R@1 | R@5 | MRR@10 | ΔR@1 | ΔMRR@10 |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const row of rows) {
    const ranks = pick(row.ranks);
    const [r1, r5, mrr] = metrics.map((m) => score(ranks, m));
    const d1 = pairedDifference(ranks, base, 'R@1');
    const dm = pairedDifference(ranks, base, 'MRR@10');
    console.log(
      `| ${row.section} | ${row.config} | ${row.chunks} | ${r1!.toFixed(3)} | ${r5!.toFixed(3)} | ${mrr!.toFixed(3)} | ${formatDifference(d1)} | ${formatDifference(dm)} |`,
    );
    summary.push({ half, section: row.section, config: row.config, r1, r5, mrr, dR1: d1, dMrr: dm });
  }
}
mkdirSync(DATA_DIR, { recursive: true });
writeFileSync(
  join(DATA_DIR, 'last-run.json'),
  JSON.stringify({ questions: evaluated.map((x) => ({ ...x, split: splitOf(x.q) })), rows }, null, 1),
);
console.log(
  JSON.stringify({
    bench: 'retrieval',
    questions: evaluated.length,
    pages: corpus.length,
    model: MODEL,
    results: summary,
  }),
);
