import { encodeCopyBinary } from '../../db/copyBinary.js';
import type { Transaction } from '../../db/types.js';
import { chunkKeyColumns, chunkKeyIn, chunkKeyJson, type DocKey, typedKeys } from '../../pipelines/keys.js';
import type { Pipeline } from '../../pipelines/pipeline.js';
import { loadDocumentStates } from './loadDocuments.js';

export interface ChunkRow {
  docKey: DocKey;
  chunkIndex: number;
  content: string;
  tokenCount: number;
  startChar: number;
  endChar: number;
  headingPath: string[] | null;
  /** Text embedded ahead of the content (title, heading path); null when none. */
  context: string | null;
  /** The chunk's section (`section_index` in the sections table), hierarchical pipelines only. */
  parentIndex: number | null;
  embedding: ArrayLike<number>;
  contentHash: string;
}

/** A parent section of a hierarchical pipeline (kept in its sections table, not embedded). */
export interface SectionRow {
  docKey: DocKey;
  sectionIndex: number;
  content: string;
  tokenCount: number;
  startChar: number;
  endChar: number;
  headingPath: string[] | null;
  context: string | null;
}

export interface WriteBackInput {
  jobIds: string[];
  lease: string;
  /** Per document: the state fingerprint it was chunked from. */
  chunkedStates: Map<DocKey, string>;
  /** New chunks of every document whose state was chunked (documents with none: empty). */
  chunks: ChunkRow[];
  /** Hierarchical pipelines: the new sections of those documents (replacing their old ones). */
  sections?: SectionRow[];
}

export interface WriteBackResult {
  /** Jobs still leased by us, now completed. */
  completed: string[];
  /** Documents whose chunks were replaced. */
  written: number;
  /** Documents that changed since they were read: left to the job their change enqueued. */
  stale: number;
  chunksInserted: number;
  chunksDeleted: number;
}

const STAGE_COLUMNS = [
  'doc_key',
  'chunk_index',
  'content',
  'token_count',
  'start_char',
  'end_char',
  'heading_path',
  'context',
  'parent_index',
  'embedding',
  'content_hash',
] as const;

/**
 * Replaces the chunks of a batch of documents, in the caller's transaction, fenced twice:
 * 1. by lease — only jobs still carrying our lease token are completed (row-locked, so lease
 *    recovery cannot take them over mid-write); documents of the others are not touched;
 * 2. by content — per document, under a transaction-scoped advisory lock that every writer of that
 *    document takes, the committed content must still be the content that was chunked; otherwise
 *    a newer job exists (the change enqueued it) and this write would be stale.
 * Unchanged chunks (same index, embedded text — content and context —, offsets and model) stay as they are, so the vector index is
 * not churned; the rest are deleted and inserted from a staging table loaded with binary COPY.
 */
export async function writeBack(
  tx: Transaction,
  pipeline: Pipeline,
  input: WriteBackInput,
): Promise<WriteBackResult> {
  const owned = await tx.query<{ id: string; docKey: DocKey }>(
    `SELECT id::text AS id, doc_key::text AS "docKey" FROM pgembed.queue
     WHERE id = ANY($1::bigint[]) AND lease = $2::uuid
     ORDER BY id FOR UPDATE`,
    [input.jobIds, input.lease],
  );
  const result: WriteBackResult = {
    completed: [],
    written: 0,
    stale: 0,
    chunksInserted: 0,
    chunksDeleted: 0,
  };
  if (owned.rowCount === 0) return result;
  const keys = owned.rows.map((row) => row.docKey);

  await tx.query(
    `SELECT pg_advisory_xact_lock(l) FROM (
       SELECT DISTINCT hashtextextended($1::text || ':' || k::text, 0) AS l FROM unnest($2::jsonb[]) AS k ORDER BY 1
     ) locks`,
    [pipeline.name, keys],
  );
  const current = await loadDocumentStates(tx, pipeline, keys);
  const fresh = new Set<DocKey>();
  for (const key of keys) {
    if (current.get(key) === input.chunkedStates.get(key)) fresh.add(key);
    else result.stale++;
  }

  if (fresh.size > 0) {
    const freshKeys = [...fresh];
    const rows = input.chunks.filter((chunk) => fresh.has(chunk.docKey));
    await stageChunks(tx, rows);
    const keyCols = chunkKeyColumns(pipeline);
    const deleted = await tx.query(
      `DELETE FROM ${pipeline.chunkTable} c
       WHERE ${chunkKeyIn(pipeline, 'c', '$1')}
         AND NOT EXISTS (
           SELECT 1 FROM pg_temp.pgembed_stage s
           WHERE s.doc_key = ${chunkKeyJson(pipeline, 'c')} AND s.chunk_index = c.chunk_index
             AND s.content_hash = c.content_hash AND s.start_char = c.start_char AND s.end_char = c.end_char
             AND s.parent_index IS NOT DISTINCT FROM c.parent_index AND c.model = $2::text)`,
      [freshKeys, pipeline.model],
    );
    const inserted = await tx.query(
      `INSERT INTO ${pipeline.chunkTable}
         (${keyCols.join(', ')}, chunk_index, content, token_count, start_char, end_char, heading_path,
          context, parent_index, embedding, model, content_hash)
       SELECT ${typedKeys(pipeline, 's.doc_key').join(', ')}, s.chunk_index, s.content, s.token_count,
              s.start_char, s.end_char,
              CASE WHEN s.heading_path IS NULL THEN NULL
                   ELSE ARRAY(SELECT jsonb_array_elements_text(s.heading_path)) END,
              s.context, s.parent_index, s.embedding, $1::text, s.content_hash
       FROM pg_temp.pgembed_stage s
       ON CONFLICT (${keyCols.join(', ')}, chunk_index) DO NOTHING`,
      [pipeline.model],
    );
    const sectionsTable = pipeline.chunkOptions?.sections_table;
    if (typeof sectionsTable === 'string') {
      await replaceSections(
        tx,
        pipeline,
        sectionsTable,
        freshKeys,
        (input.sections ?? []).filter((section) => fresh.has(section.docKey)),
      );
    }
    result.written = fresh.size;
    result.chunksDeleted = deleted.rowCount;
    result.chunksInserted = inserted.rowCount;
  }

  // A document that is gone takes its own chunking settings with it (a new row under its key starts afresh).
  const gone = [...fresh].filter((key) => input.chunkedStates.get(key) === 'missing');
  if (gone.length > 0) {
    await tx.query(
      `DELETE FROM pgembed.chunk_overrides WHERE pipeline = $1::text AND doc_key = ANY($2::jsonb[])`,
      [pipeline.name, gone],
    );
  }
  result.completed = owned.rows.map((row) => row.id);
  await tx.query(`DELETE FROM pgembed.queue WHERE id = ANY($1::bigint[])`, [result.completed]);
  // A document that is now embedded no longer has an open failure.
  await tx.query(
    `DELETE FROM pgembed.queue WHERE pipeline = $1::text AND status = 'failed' AND doc_key = ANY($2::jsonb[])`,
    [pipeline.name, [...fresh]],
  );
  return result;
}

async function stageChunks(tx: Transaction, rows: ChunkRow[]): Promise<void> {
  // One staging table per session, emptied at every commit; it holds rows of any pipeline, so
  // the embedding column has no fixed dimension.
  await tx.query(
    `CREATE TEMP TABLE IF NOT EXISTS pgembed_stage (
       doc_key jsonb, chunk_index int, content text, token_count int, start_char int, end_char int,
       heading_path jsonb, context text, parent_index int, embedding vector, content_hash text
     ) ON COMMIT DELETE ROWS`,
  );
  if (rows.length === 0) return;
  if (tx.copyBinary) {
    const data = encodeCopyBinary(
      rows.map((row) => [
        { type: 'jsonb', value: row.docKey },
        { type: 'int4', value: row.chunkIndex },
        { type: 'text', value: row.content },
        { type: 'int4', value: row.tokenCount },
        { type: 'int4', value: row.startChar },
        { type: 'int4', value: row.endChar },
        row.headingPath ? { type: 'jsonb', value: JSON.stringify(row.headingPath) } : { type: 'null' },
        row.context === null ? { type: 'null' } : { type: 'text', value: row.context },
        row.parentIndex === null ? { type: 'null' } : { type: 'int4', value: row.parentIndex },
        { type: 'vector', value: row.embedding },
        { type: 'text', value: row.contentHash },
      ]),
    );
    await tx.copyBinary('pg_temp.pgembed_stage', STAGE_COLUMNS, data);
    return;
  }
  await tx.query(
    `INSERT INTO pg_temp.pgembed_stage (${STAGE_COLUMNS.join(', ')})
     SELECT * FROM unnest($1::jsonb[], $2::int[], $3::text[], $4::int[], $5::int[], $6::int[], $7::jsonb[],
                          $8::text[], $9::int[], $10::vector[], $11::text[])`,
    [
      rows.map((row) => row.docKey),
      rows.map((row) => row.chunkIndex),
      rows.map((row) => row.content),
      rows.map((row) => row.tokenCount),
      rows.map((row) => row.startChar),
      rows.map((row) => row.endChar),
      rows.map((row) => (row.headingPath ? JSON.stringify(row.headingPath) : null)),
      rows.map((row) => row.context),
      rows.map((row) => row.parentIndex),
      // As one array literal: PGlite does not know the vector type, and would flatten a JS array of them.
      `{${rows.map((row) => `"[${Array.prototype.join.call(row.embedding, ',')}]"`).join(',')}}`,
      rows.map((row) => row.contentHash),
    ],
  );
}

/**
 * Replaces the sections of these documents. Sections carry no embedding and no index worth sparing,
 * so they are simply rewritten; `sectionsTable` was quoted by `format('%I.%I')` when it was created.
 */
async function replaceSections(
  tx: Transaction,
  pipeline: Pipeline,
  sectionsTable: string,
  keys: string[],
  sections: SectionRow[],
): Promise<void> {
  await tx.query(`DELETE FROM ${sectionsTable} c WHERE ${chunkKeyIn(pipeline, 'c', '$1')}`, [keys]);
  if (sections.length === 0) return;
  await tx.query(
    `INSERT INTO ${sectionsTable}
       (${chunkKeyColumns(pipeline).join(', ')}, section_index, content, token_count, start_char, end_char,
        heading_path, context)
     SELECT ${typedKeys(pipeline, 's.k').join(', ')}, s.i, s.content, s.tokens, s.start_char, s.end_char,
            CASE WHEN s.path IS NULL THEN NULL ELSE ARRAY(SELECT jsonb_array_elements_text(s.path)) END, s.context
     FROM unnest($1::jsonb[], $2::int[], $3::text[], $4::int[], $5::int[], $6::int[], $7::jsonb[], $8::text[])
          AS s(k, i, content, tokens, start_char, end_char, path, context)`,
    [
      sections.map((s) => s.docKey),
      sections.map((s) => s.sectionIndex),
      sections.map((s) => s.content),
      sections.map((s) => s.tokenCount),
      sections.map((s) => s.startChar),
      sections.map((s) => s.endChar),
      sections.map((s) => (s.headingPath ? JSON.stringify(s.headingPath) : null)),
      sections.map((s) => s.context),
    ],
  );
}
