import { quoteIdent } from '../../db/quote.js';
import type { Queryable } from '../../db/types.js';
import { matchSourceKey } from '../../pipelines/keys.js';
import type { Pipeline } from '../../pipelines/pipeline.js';

export interface DocumentState {
  docKey: unknown[];
  /** The content as committed now; null when the row is gone or its content is NULL. */
  content: string | null;
  /**
   * Fingerprint of the committed state: md5 of the content, 'null' for NULL content, 'missing'
   * when the row is gone. Write-back compares it with the state chunked, and writes nothing for a
   * document that changed meanwhile.
   */
  state: string;
}

function stateQuery(pipeline: Pipeline, withContent: boolean): string {
  const content = `s.${quoteIdent(pipeline.contentColumn)}`;
  const exists = `s.${quoteIdent(pipeline.keyColumns[0]!)} IS NOT NULL`;
  return `SELECT j.key AS "docKey",
            ${withContent ? `${content}::text` : 'NULL::text'} AS content,
            CASE WHEN NOT (${exists}) THEN 'missing' ELSE coalesce(md5(${content}::text), 'null') END AS state
          FROM unnest($1::jsonb[]) AS j(key)
          LEFT JOIN ${pipeline.sourceTable} s ON ${matchSourceKey(pipeline, 's', 'j.key')}`;
}

/** Loads the documents of a batch with their state fingerprint, by primary key. */
export async function loadDocuments(
  db: Queryable,
  pipeline: Pipeline,
  docKeys: unknown[][],
): Promise<DocumentState[]> {
  const { rows } = await db.query<DocumentState>(stateQuery(pipeline, true), [
    docKeys.map((k) => JSON.stringify(k)),
  ]);
  return rows;
}

/** The state fingerprints only: what write-back checks under its locks. */
export async function loadDocumentStates(
  db: Queryable,
  pipeline: Pipeline,
  docKeys: unknown[][],
): Promise<Map<string, string>> {
  const { rows } = await db.query<DocumentState>(stateQuery(pipeline, false), [
    docKeys.map((k) => JSON.stringify(k)),
  ]);
  return new Map(rows.map((row) => [JSON.stringify(row.docKey), row.state]));
}
