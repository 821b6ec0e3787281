import { embeddingText } from '../../src/chunking/index.js';
import { quoteIdent } from '../../src/db/quote.js';
import type { Queryable } from '../../src/db/types.js';
import { chunkKeyJson } from '../../src/pipelines/keys.js';
import { findPipeline } from '../../src/pipelines/pipeline.js';
import { hashEmbedding } from '../../src/providers/hash.js';
import { type ChunkOverride, chunkDocuments, titleColumnOf } from '../../src/worker/chunkDocument.js';

export interface InvariantReport {
  documents: number;
  /** Documents whose chunks are missing or differ from chunk(content). */
  stale: string[];
  /** Of those: documents with content but no chunks at all. */
  lost: number;
  /** Chunk rows beyond what chunk(content) gives, over all documents. */
  duplicated: number;
  /** Chunk rows whose embedding is not the hash provider's vector of their text. */
  wrongVectors: number;
  /** Chunk rows of documents that no longer exist (or have no content). */
  orphans: number;
  /** Jobs not pending/failed after a drain. */
  processing: number;
}

/**
 * The reliability invariant, checkable because the `hash` provider is a pure function of the text:
 * for every committed document, its chunks equal chunkDocuments(pipeline, …) — the function the
 * worker uses, with the pipeline's strategy and options — with embeddings of exactly the embedded
 * texts (context and content); no chunks for deleted documents; nothing left processing.
 * `embed` is the provider the worker used, as a pure function: the hash provider's by default for a
 * `hash` pipeline. It embeds the sentences of semantic pipelines that break by embedding similarity,
 * and the vectors of the chunks are checked against it.
 */
export async function checkInvariants(
  db: Queryable,
  pipelineName: string,
  options: { embed?: (text: string) => number[] } = {},
): Promise<InvariantReport> {
  const pipeline = await findPipeline(db, { pipeline: pipelineName });
  const embed =
    options.embed ??
    (pipeline.provider === 'hash'
      ? (text: string) => hashEmbedding(text, pipeline.dimensions, pipeline.model)
      : undefined);
  const keyCols = pipeline.keyColumns.map((c) => `s.${quoteIdent(c)}`).join(', ');
  const titleColumn = titleColumnOf(pipeline);
  const { rows: docs } = await db.query<{
    key: unknown[];
    content: string | null;
    title: string | null;
    override: ChunkOverride | null;
  }>(
    `SELECT jsonb_build_array(${keyCols}) AS key, s.${quoteIdent(pipeline.contentColumn)}::text AS content,
            ${titleColumn ? `s.${quoteIdent(titleColumn)}::text` : 'NULL::text'} AS title,
            (SELECT jsonb_build_object('chunkStrategy', o.chunk_strategy, 'chunkSize', o.chunk_size,
                      'chunkOverlap', o.chunk_overlap, 'chunkOptions', o.chunk_options)
             FROM pgembed.chunk_overrides o
             WHERE o.pipeline = $1 AND o.doc_key = jsonb_build_array(${keyCols})) AS override
     FROM ${pipeline.sourceTable} s`,
    [pipeline.name],
  );
  const { rows: chunks } = await db.query<{
    key: unknown[];
    chunk_index: number;
    content: string;
    start_char: number;
    end_char: number;
    context: string | null;
    parent_index: number | null;
    embedding: string;
  }>(
    `SELECT ${chunkKeyJson(pipeline, 'c')} AS key, chunk_index, content, start_char, end_char, context, parent_index,
            embedding::text AS embedding
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
    lost: 0,
    duplicated: 0,
    wrongVectors: 0,
    orphans: 0,
    processing: 0,
  };
  const seen = new Set<string>();
  const expectedSections = new Map<
    string,
    { index: number; content: string; startChar: number; endChar: number }[]
  >();
  const chunkedOf = await chunkDocuments(pipeline, docs, async (texts) => {
    if (!embed) throw new Error(`checkInvariants needs options.embed for provider ${pipeline.provider}`);
    return texts.map(embed);
  });
  for (const doc of docs) {
    const key = JSON.stringify(doc.key);
    seen.add(key);
    const { chunks: expected, sections } = chunkedOf(doc);
    if (sections) expectedSections.set(key, sections);
    const actual = byDoc.get(key) ?? [];
    const same =
      expected.length === actual.length &&
      expected.every(
        (e, i) =>
          actual[i]!.chunk_index === e.index &&
          actual[i]!.content === e.content &&
          actual[i]!.start_char === e.startChar &&
          actual[i]!.end_char === e.endChar &&
          actual[i]!.context === (e.context ?? null) &&
          actual[i]!.parent_index === (e.parentIndex ?? null),
      );
    if (!same) report.stale.push(key);
    if (expected.length > 0 && actual.length === 0) report.lost++;
    report.duplicated += Math.max(0, actual.length - expected.length);
  }
  for (const [key, rows] of byDoc) {
    if (!seen.has(key)) report.orphans += rows.length;
  }
  // Hierarchical pipelines: the sections table holds exactly the expected sections of every document.
  const sectionsTable = pipeline.chunkOptions.sections_table;
  if (typeof sectionsTable === 'string') {
    const { rows: stored } = await db.query<{
      key: unknown[];
      section_index: number;
      content: string;
      start_char: number;
      end_char: number;
    }>(
      `SELECT ${chunkKeyJson(pipeline, 'c')} AS key, section_index, content, start_char, end_char
       FROM ${sectionsTable} c ORDER BY 1, section_index`,
    );
    const storedByDoc = new Map<string, typeof stored>();
    for (const row of stored) {
      const key = JSON.stringify(row.key);
      storedByDoc.set(key, [...(storedByDoc.get(key) ?? []), row]);
      if (!seen.has(key)) report.orphans++;
    }
    for (const [key, want] of expectedSections) {
      const got = storedByDoc.get(key) ?? [];
      const same =
        got.length === want.length &&
        want.every(
          (w, i) =>
            got[i]!.section_index === w.index &&
            got[i]!.content === w.content &&
            got[i]!.start_char === w.startChar &&
            got[i]!.end_char === w.endChar,
        );
      if (!same && !report.stale.includes(key)) report.stale.push(key);
    }
  }
  if (embed) {
    for (const row of chunks) {
      const want = embed(embeddingText({ content: row.content, context: row.context ?? undefined }));
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
