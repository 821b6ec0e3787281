import { chunk, tokenizerFor } from '../../src/chunking/index.js';
import { quoteIdent } from '../../src/db/quote.js';
import type { Queryable } from '../../src/db/types.js';
import { chunkKeyJson } from '../../src/pipelines/keys.js';
import { findPipeline } from '../../src/pipelines/pipeline.js';
import { hashEmbedding } from '../../src/providers/hash.js';

export interface InvariantReport {
  documents: number;
  /** Documents whose chunks are missing or differ from chunk(content). */
  stale: string[];
  /** Chunk rows whose embedding is not the hash provider's vector of their text. */
  wrongVectors: number;
  /** Chunk rows of documents that no longer exist (or have no content). */
  orphans: number;
  /** Jobs not pending/failed after a drain. */
  processing: number;
}

/**
 * The reliability invariant, checkable because the `hash` provider is a pure function of the text:
 * for every committed document, its chunks equal chunk(content) with embeddings of exactly those
 * texts; no chunks for deleted documents; nothing left processing.
 */
export async function checkInvariants(db: Queryable, pipelineName: string): Promise<InvariantReport> {
  const pipeline = await findPipeline(db, { pipeline: pipelineName });
  const tokenizer = tokenizerFor(pipeline.provider, pipeline.model);
  const keyCols = pipeline.keyColumns.map((c) => `s.${quoteIdent(c)}`).join(', ');
  const { rows: docs } = await db.query<{ key: unknown[]; content: string | null }>(
    `SELECT jsonb_build_array(${keyCols}) AS key, s.${quoteIdent(pipeline.contentColumn)}::text AS content FROM ${pipeline.sourceTable} s`,
  );
  const { rows: chunks } = await db.query<{
    key: unknown[];
    chunk_index: number;
    content: string;
    start_char: number;
    end_char: number;
    embedding: string;
  }>(
    `SELECT ${chunkKeyJson(pipeline, 'c')} AS key, chunk_index, content, start_char, end_char, embedding::text AS embedding
     FROM ${pipeline.chunkTable} c ORDER BY 1, chunk_index`,
  );
  const byDoc = new Map<string, typeof chunks>();
  for (const row of chunks) {
    const key = JSON.stringify(row.key);
    byDoc.set(key, [...(byDoc.get(key) ?? []), row]);
  }
  const report: InvariantReport = {
    documents: docs.length,
    stale: [],
    wrongVectors: 0,
    orphans: 0,
    processing: 0,
  };
  const seen = new Set<string>();
  for (const doc of docs) {
    const key = JSON.stringify(doc.key);
    seen.add(key);
    const expected =
      doc.content === null || doc.content.trim() === ''
        ? []
        : chunk(doc.content, {
            chunkSize: pipeline.chunkSize,
            chunkOverlap: pipeline.chunkOverlap,
            tokenizer,
          });
    const actual = byDoc.get(key) ?? [];
    const same =
      expected.length === actual.length &&
      expected.every(
        (e, i) =>
          actual[i]!.chunk_index === e.index &&
          actual[i]!.content === e.content &&
          actual[i]!.start_char === e.startChar &&
          actual[i]!.end_char === e.endChar,
      );
    if (!same) report.stale.push(key);
  }
  for (const [key, rows] of byDoc) {
    if (!seen.has(key)) report.orphans += rows.length;
  }
  if (pipeline.provider === 'hash') {
    for (const row of chunks) {
      const want = hashEmbedding(row.content, pipeline.dimensions, pipeline.model);
      const got = JSON.parse(row.embedding) as number[];
      if (got.length !== want.length || got.some((v, i) => Math.abs(v - want[i]!) > 1e-6))
        report.wrongVectors++;
    }
  }
  const { rows: processing } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pgembed.queue WHERE pipeline = $1 AND status = 'processing'`,
    [pipelineName],
  );
  report.processing = processing[0]!.n;
  return report;
}
