import type { Database } from '../db/types.js';
import { PgembedError } from '../errors.js';
import { findPipeline, type Pipeline } from '../pipelines/pipeline.js';

export interface RecallOptions {
  /** Stored chunks used as queries (1–10,000). Default 100. */
  sample?: number;
  /** Neighbours compared per query (1–1000). Default 10. */
  k?: number;
  /** hnsw.ef_search to measure; default what searches use now (the pipeline's, else 40). */
  efSearch?: number;
  /** Chooses the sample (same seed, same chunks, as long as the table is unchanged). Default 'pgembed'. */
  seed?: string;
}

export interface LatencySummary {
  p50Ms: number;
  p99Ms: number;
}

export interface RecallReport {
  pipeline: string;
  /** Chunks in the table. */
  chunks: number;
  sample: number;
  k: number;
  /** ef_search the index searches ran with; null for IVFFlat pipelines (their probes apply). */
  efSearch: number | null;
  indexType: string;
  /** Mean over the sample of |index top-k ∩ exact top-k| / k (ties at the k-th distance count as hits). */
  recall: number;
  /** Worst single query. */
  minRecall: number;
  /** Latency of the index search (pgembed.search, as applications call it) and of the exact scan. */
  indexLatency: LatencySummary;
  exactLatency: LatencySummary;
}

export interface TuneOptions extends Omit<RecallOptions, 'efSearch'> {
  /** Recall@k to reach (0–1). Default 0.95. */
  target?: number;
  /** Store the ef_search found in the pipeline (searches then use it). Default true. */
  store?: boolean;
}

export interface TuneReport {
  pipeline: string;
  target: number;
  /** Smallest ef_search measured to reach the target; null when even 1000 does not. */
  efSearch: number | null;
  reached: boolean;
  stored: boolean;
  /** Every ef_search measured, in the order they were tried. */
  steps: RecallReport[];
}

/** Candidate ef_search values, roughly ×1.25 apart, up to pgvector's maximum. */
const EF_LADDER = [
  10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 100, 128, 160, 200, 256, 320, 400, 500, 640, 800, 1000,
];
/** Two distances closer than this are a tie (float4 storage; cosine of unit vectors). */
const TIE = 1e-6;

interface Sample {
  id: string;
  embedding: string;
  /** Exact neighbours (excluding the query chunk itself) and the k-th distance. */
  exact: { ids: Set<string>; kth: number };
}

interface Prepared {
  pipeline: Pipeline;
  chunks: number;
  k: number;
  samples: Sample[];
  exactMs: number[];
  indexType: string;
}

function checkRange(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new PgembedError(
      'INVALID_ARGUMENT',
      `${name} must be an integer between ${min} and ${max} (got ${value})`,
    );
  }
  return value;
}

function latency(ms: number[]): LatencySummary {
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? 0;
  return { p50Ms: Math.round(at(0.5) * 1000) / 1000, p99Ms: Math.round(at(0.99) * 1000) / 1000 };
}

function distanceExpr(pipeline: Pipeline): string {
  return pipeline.dimensions > 2000
    ? `(c.embedding::halfvec(${pipeline.dimensions})) <=> ($1::vector::halfvec(${pipeline.dimensions}))`
    : 'c.embedding <=> $1::vector';
}

/**
 * Draws the sample and finds each sample's exact neighbours: a sequential scan with index scans
 * disabled (SET LOCAL, in a transaction), the ground truth the index is compared with.
 */
async function prepare(db: Database, pipelineName: string, options: RecallOptions): Promise<Prepared> {
  const sample = checkRange('sample', options.sample ?? 100, 1, 10_000);
  const k = checkRange('k', options.k ?? 10, 1, 1000);
  const pipeline = await findPipeline(db, { pipeline: pipelineName });
  const { rows: meta } = await db.query<{ chunks: number; index_type: string }>(
    `SELECT (SELECT count(*) FROM ${pipeline.chunkTable})::int AS chunks, index_type FROM pgembed.pipelines WHERE name = $1`,
    [pipeline.name],
  );
  const chunks = meta[0]!.chunks;
  if (chunks < 2) {
    throw new PgembedError(
      'INVALID_ARGUMENT',
      `pipeline ${pipeline.name} has ${chunks} chunk(s); recall needs at least 2`,
    );
  }
  // md5 of id and seed: a reproducible pseudo-random sample without setseed() (which would need
  // one session for both statements).
  const { rows: picked } = await db.query<{ id: string; embedding: string }>(
    `SELECT c.id::text AS id, c.embedding::text AS embedding FROM ${pipeline.chunkTable} c
     ORDER BY md5(c.id::text || $1::text) LIMIT $2::int`,
    [options.seed ?? 'pgembed', sample],
  );
  const dist = distanceExpr(pipeline);
  const exactMs: number[] = [];
  const samples: Sample[] = [];
  await db.transaction(async (tx) => {
    await tx.query(`SET LOCAL enable_indexscan = off`);
    await tx.query(`SET LOCAL enable_bitmapscan = off`);
    for (const row of picked) {
      const began = performance.now();
      const { rows } = await tx.query<{ id: string; distance: number }>(
        `SELECT c.id::text AS id, ${dist} AS distance FROM ${pipeline.chunkTable} c ORDER BY ${dist} LIMIT $2::int`,
        [row.embedding, k + 1],
      );
      exactMs.push(performance.now() - began);
      const others = rows.filter((r) => r.id !== row.id).slice(0, k);
      samples.push({
        id: row.id,
        embedding: row.embedding,
        exact: { ids: new Set(others.map((r) => r.id)), kth: Number(others.at(-1)?.distance ?? 0) },
      });
    }
  });
  return { pipeline, chunks, k, samples, exactMs, indexType: meta[0]!.index_type };
}

async function measure(
  db: Database,
  prepared: Prepared,
  efSearch: number | undefined,
): Promise<RecallReport> {
  const { pipeline, k, samples } = prepared;
  const effectiveK = Math.min(k, prepared.chunks - 1);
  const indexMs: number[] = [];
  const recalls: number[] = [];
  for (const sample of samples) {
    const began = performance.now();
    const { rows } = await db.query<{ id: string; distance: number }>(
      `SELECT chunk_id::text AS id, distance FROM pgembed.search($1::text, $2::vector, $3::int, ef_search => $4::int)`,
      [pipeline.name, sample.embedding, Math.min(k + 1, 1000), efSearch ?? null],
    );
    indexMs.push(performance.now() - began);
    const found = rows.filter((r) => r.id !== sample.id).slice(0, k);
    const hits = found.filter(
      (r) => sample.exact.ids.has(r.id) || Number(r.distance) <= sample.exact.kth + TIE,
    ).length;
    recalls.push(Math.min(hits, effectiveK) / effectiveK);
  }
  const { rows: ef } = await db.query<{ ef: number }>(
    `SELECT coalesce($2::int, (search_options->>'ef_search')::int, 40) AS ef FROM pgembed.pipelines WHERE name = $1`,
    [pipeline.name, efSearch ?? null],
  );
  return {
    pipeline: pipeline.name,
    chunks: prepared.chunks,
    sample: samples.length,
    k,
    efSearch: prepared.indexType === 'ivfflat' ? null : (ef[0]?.ef ?? null),
    indexType: prepared.indexType,
    recall: recalls.reduce((a, b) => a + b, 0) / recalls.length,
    minRecall: Math.min(...recalls),
    indexLatency: latency(indexMs),
    exactLatency: latency(prepared.exactMs),
  };
}

/**
 * Recall monitor: how many of the true k nearest neighbours the pipeline's index search returns.
 * A sample of stored chunks is used as queries; for each, the exact neighbours come from a
 * sequential scan (index scans disabled), the approximate ones from `pgembed.search` — the same
 * path, settings and iterative scan that applications use. The query chunk itself is left out of
 * both lists, and a neighbour tied with the k-th exact distance counts as found.
 *
 * @example
 * ```ts
 * const report = await measureRecall(db, 'articles', { sample: 200, k: 10 });
 * console.log(report.recall, report.indexLatency.p50Ms);
 * ```
 */
export async function measureRecall(
  db: Database,
  pipelineName: string,
  options: RecallOptions = {},
): Promise<RecallReport> {
  if (options.efSearch !== undefined) checkRange('efSearch', options.efSearch, 1, 1000);
  const prepared = await prepare(db, pipelineName, options);
  return measure(db, prepared, options.efSearch);
}

/**
 * Finds the smallest ef_search (on a ×1.25 ladder from 10 to 1000) whose recall@k reaches `target`,
 * by binary search over the ladder (recall grows with ef_search), reusing one exact ground truth,
 * and stores it in the pipeline (`search_options.ef_search`), which every search then uses.
 *
 * @example
 * ```ts
 * const { efSearch, reached } = await tuneEfSearch(db, 'articles', { target: 0.95 });
 * ```
 */
export async function tuneEfSearch(
  db: Database,
  pipelineName: string,
  options: TuneOptions = {},
): Promise<TuneReport> {
  const target = options.target ?? 0.95;
  if (!(target > 0 && target <= 1)) {
    throw new PgembedError('INVALID_ARGUMENT', `target must be a recall between 0 and 1 (got ${target})`);
  }
  const prepared = await prepare(db, pipelineName, options);
  if (prepared.indexType !== 'hnsw') {
    throw new PgembedError(
      'INVALID_ARGUMENT',
      `--tune sets hnsw.ef_search, but pipeline ${prepared.pipeline.name} has a ${prepared.indexType} index; for IVFFlat set probes with pgembed.configure_search`,
    );
  }
  const ladder = EF_LADDER.filter((ef) => ef >= Math.min(prepared.k, 1000));
  const steps: RecallReport[] = [];
  const cache = new Map<number, RecallReport>();
  const at = async (i: number) => {
    const ef = ladder[i]!;
    let report = cache.get(ef);
    if (!report) {
      report = await measure(db, prepared, ef);
      cache.set(ef, report);
      steps.push(report);
    }
    return report;
  };
  let lo = 0;
  let hi = ladder.length - 1;
  let best: number | null = null;
  if ((await at(hi)).recall >= target) {
    best = hi;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if ((await at(mid)).recall >= target) hi = mid;
      else lo = mid + 1;
    }
    best = lo;
  }
  const efSearch = best === null ? null : ladder[best]!;
  const store = options.store !== false && efSearch !== null;
  if (store) {
    await db.query(`SELECT pgembed.configure_search($1::text, jsonb_build_object('ef_search', $2::int))`, [
      prepared.pipeline.name,
      efSearch,
    ]);
  }
  return {
    pipeline: prepared.pipeline.name,
    target,
    efSearch,
    reached: efSearch !== null,
    stored: store,
    steps,
  };
}
