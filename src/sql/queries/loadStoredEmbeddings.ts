import type { Queryable } from '../../db/types.js';
import { type DocKey, rowsOfDocuments } from '../../pipelines/keys.js';
import type { Pipeline } from '../../pipelines/pipeline.js';

/**
 * Embeddings already stored for these documents with this model, by chunk text hash: a chunk
 * whose text did not change keeps its embedding instead of being sent to the provider again.
 */
export async function loadStoredEmbeddings(
  db: Queryable,
  pipeline: Pipeline,
  docKeys: DocKey[],
): Promise<Map<string, string>> {
  const { rows } = await db.query<{ hash: string; embedding: string }>(
    `SELECT DISTINCT ON (c.content_hash) c.content_hash AS hash, c.embedding::text AS embedding
     FROM ${rowsOfDocuments(pipeline, pipeline.chunkTable, '$1', 'c')}
     WHERE c.model = $2::text`,
    [docKeys, pipeline.model],
  );
  return new Map(rows.map((row) => [row.hash, row.embedding]));
}
