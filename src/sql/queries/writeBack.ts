import { type CopyValue, encodeCopyBinary } from '../../db/copyBinary.js';
import type { Transaction } from '../../db/types.js';
import { chunkKeyColumns, type DocKey, rowsOfDocuments, typedKeys } from '../../pipelines/keys.js';
import type { Pipeline } from '../../pipelines/pipeline.js';
import { type DocumentStateRow, loadDocumentStates } from './loadDocuments.js';

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

/**
 * Turns JIT compilation off for the rest of the caller's transaction. The chunk table of a new
 * pipeline has no statistics until autovacuum analyzes it, and the planner's guesses for the
 * per-document lookups then pass jit_above_cost: compiling took ~20 ms per batch, the queries
 * themselves well under 1 ms (measured at 30,000 chunks).
 */
export const NO_JIT = `SELECT set_config('jit', 'off', true)`;

/**
 * Replaces the chunks of a batch of documents, in the caller's transaction, fenced twice:
 * 1. by lease — only jobs still carrying our lease token are completed (row-locked, so lease
 *    recovery cannot take them over mid-write); documents of the others are not touched;
 * 2. by content — per document, under a transaction-scoped advisory lock that every writer of that
 *    document takes, the committed content must still be the content that was chunked; otherwise
 *    a newer job exists (the change enqueued it) and this write would be stale.
 * Unchanged chunks (same index, embedded text — content and context —, offsets and model) stay as
 * they are, so the vector index is not churned; the rest are deleted, and the new ones written
 * straight into the chunk table (binary COPY where the driver has it).
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

  await tx.query(NO_JIT);
  await tx.query(
    `SELECT pg_advisory_xact_lock(l) FROM (
       SELECT DISTINCT hashtextextended($1::text || ':' || k::text, 0) AS l FROM unnest($2::jsonb[]) AS k ORDER BY 1
     ) locks`,
    [pipeline.name, keys],
  );
  const current = await loadDocumentStates(tx, pipeline, keys);
  const fresh = new Set<DocKey>();
  for (const key of keys) {
    if (current.get(key)?.state === input.chunkedStates.get(key)) fresh.add(key);
    else result.stale++;
  }

  if (fresh.size > 0) {
    const freshKeys = [...fresh];
    const rows = input.chunks.filter((chunk) => fresh.has(chunk.docKey));
    const { deleted, kept } = await deleteChangedChunks(tx, pipeline, freshKeys, rows);
    const added = rows.filter((row) => !kept.has(chunkId(row.docKey, row.chunkIndex)));
    await insertChunks(tx, pipeline, added, current);
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
    result.chunksDeleted = deleted;
    result.chunksInserted = added.length;
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
  // A document that is now embedded no longer has an open failure. (Two statements: one DELETE with
  // an OR of both could use no index, and scanned the whole queue per batch.)
  await tx.query(
    `DELETE FROM pgembed.queue WHERE pipeline = $1::text AND status = 'failed' AND doc_key = ANY($2::jsonb[])`,
    [pipeline.name, [...fresh]],
  );
  return result;
}

const chunkId = (docKey: DocKey, chunkIndex: number) => `${chunkIndex}:${docKey}`;

/**
 * Deletes the stored chunks of these documents that are not among `rows` unchanged (same index,
 * text hash, offsets, parent and model), and says which stored chunks stay.
 */
async function deleteChangedChunks(
  tx: Transaction,
  pipeline: Pipeline,
  docKeys: DocKey[],
  rows: ChunkRow[],
): Promise<{ deleted: number; kept: Set<string> }> {
  const { rows: result } = await tx.query<{ deleted: number; kept: string[] }>(
    `WITH stored AS MATERIALIZED (
       SELECT c.id, c.chunk_index, c_key.key, c.content_hash, c.start_char, c.end_char, c.parent_index, c.model
       FROM ${rowsOfDocuments(pipeline, pipeline.chunkTable, '$1', 'c')}
     ), gone AS (
       DELETE FROM ${pipeline.chunkTable} c
       WHERE c.id = ANY (ARRAY(
         SELECT s.id FROM stored s
         WHERE NOT EXISTS (
           SELECT 1 FROM unnest($2::jsonb[], $3::int[], $4::text[], $5::int[], $6::int[], $7::int[])
                         AS w(doc_key, chunk_index, content_hash, start_char, end_char, parent_index)
           WHERE w.doc_key = s.key AND w.chunk_index = s.chunk_index AND w.content_hash = s.content_hash
             AND w.start_char = s.start_char AND w.end_char = s.end_char
             AND w.parent_index IS NOT DISTINCT FROM s.parent_index AND s.model = $8::text)))
       RETURNING c.id
     )
     SELECT (SELECT count(*) FROM gone)::int AS deleted,
            ARRAY(SELECT s.chunk_index || ':' || s.key::text FROM stored s
                  WHERE s.id NOT IN (SELECT id FROM gone)) AS kept`,
    [
      docKeys,
      rows.map((row) => row.docKey),
      rows.map((row) => row.chunkIndex),
      rows.map((row) => row.contentHash),
      rows.map((row) => row.startChar),
      rows.map((row) => row.endChar),
      rows.map((row) => row.parentIndex),
      pipeline.model,
    ],
  );
  return { deleted: result[0]!.deleted, kept: new Set(result[0]!.kept) };
}

const CHUNK_COLUMNS = [
  'chunk_index',
  'content',
  'token_count',
  'start_char',
  'end_char',
  'heading_path',
  'context',
  'parent_index',
  'embedding',
  'model',
  'content_hash',
];

/** Binary COPY encoders of the key types they cover; other key types take the INSERT path. */
const KEY_ENCODERS: Record<string, (text: string) => CopyValue> = {
  smallint: (text) => ({ type: 'int2', value: Number(text) }),
  integer: (text) => ({ type: 'int4', value: Number(text) }),
  bigint: (text) => ({ type: 'int8', value: text }),
  text: (text) => ({ type: 'text', value: text }),
  uuid: (text) => ({ type: 'uuid', value: text }),
};

function keyEncoder(type: string): ((text: string) => CopyValue) | undefined {
  return KEY_ENCODERS[type.startsWith('character varying') ? 'text' : type];
}

/**
 * Writes new chunk rows: one binary COPY straight into the chunk table when the driver can and
 * every key type has a binary encoder, else one INSERT from arrays. Under the documents' advisory
 * locks, after deleteChangedChunks, none of these rows can exist already.
 */
async function insertChunks(
  tx: Transaction,
  pipeline: Pipeline,
  rows: ChunkRow[],
  states: Map<DocKey, DocumentStateRow>,
): Promise<void> {
  if (rows.length === 0) return;
  const keyColumns = chunkKeyColumns(pipeline);
  const encoders = pipeline.keyTypes.map(keyEncoder);
  if (tx.copyBinary && encoders.every((encode) => encode !== undefined)) {
    const data = encodeCopyBinary(
      rows.map((row): CopyValue[] => [
        ...states.get(row.docKey)!.keyParts.map((part, i) => encoders[i]!(part)),
        { type: 'int4', value: row.chunkIndex },
        { type: 'text', value: row.content },
        { type: 'int4', value: row.tokenCount },
        { type: 'int4', value: row.startChar },
        { type: 'int4', value: row.endChar },
        row.headingPath ? { type: 'textArray', value: row.headingPath } : { type: 'null' },
        row.context === null ? { type: 'null' } : { type: 'text', value: row.context },
        row.parentIndex === null ? { type: 'null' } : { type: 'int4', value: row.parentIndex },
        { type: 'vector', value: row.embedding },
        { type: 'text', value: pipeline.model },
        { type: 'text', value: row.contentHash },
      ]),
    );
    await tx.copyBinary(pipeline.chunkTable, [...keyColumns, ...CHUNK_COLUMNS], data);
    return;
  }
  await tx.query(
    `INSERT INTO ${pipeline.chunkTable} (${[...keyColumns, ...CHUNK_COLUMNS].join(', ')})
     SELECT ${typedKeys(pipeline, 's.doc_key').join(', ')}, s.chunk_index, s.content, s.token_count,
            s.start_char, s.end_char,
            CASE WHEN s.heading_path IS NULL THEN NULL
                 ELSE ARRAY(SELECT jsonb_array_elements_text(s.heading_path)) END,
            s.context, s.parent_index, s.embedding, $11::text, s.content_hash
     FROM unnest($1::jsonb[], $2::int[], $3::text[], $4::int[], $5::int[], $6::int[], $7::jsonb[],
                 $8::text[], $9::int[], $10::vector[], $12::text[])
          AS s(doc_key, chunk_index, content, token_count, start_char, end_char, heading_path, context,
               parent_index, embedding, content_hash)`,
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
      pipeline.model,
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
  await tx.query(
    `DELETE FROM ${sectionsTable} WHERE id = ANY (ARRAY(SELECT s.id FROM ${rowsOfDocuments(pipeline, sectionsTable, '$1', 's')}))`,
    [keys],
  );
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
