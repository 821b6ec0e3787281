import { createHash } from 'node:crypto';
import { embeddingText } from '../chunking/index.js';
import type { Chunk } from '../chunking/types.js';
import type { Database } from '../db/types.js';
import { PgembedError } from '../errors.js';
import type { DocKey } from '../pipelines/keys.js';
import type { Pipeline } from '../pipelines/pipeline.js';
import type { EmbeddingProvider } from '../providers/types.js';
import type { ClaimedJob } from '../sql/queries/claimJobs.js';
import { loadDocuments } from '../sql/queries/loadDocuments.js';
import { loadStoredEmbeddings } from '../sql/queries/loadStoredEmbeddings.js';
import {
  type ChunkRow,
  NO_JIT,
  type SectionRow,
  type WriteBackResult,
  writeBack,
} from '../sql/queries/writeBack.js';
import { chunkDocuments, sentenceEmbedder } from './chunkDocument.js';
import { embedAll } from './embed.js';
import type { WorkerEvents } from './events.js';

export interface BatchOutcome extends WriteBackResult {
  embedded: number;
  reused: number;
  /** Jobs whose document could not be chunked: failed for good with this error. */
  unchunkable: { job: ClaimedJob; error: PgembedError }[];
}

/** Identifies a chunk's embedding: the exact text sent to the model, under this model. */
export function chunkHash(model: string, text: string): string {
  return createHash('sha256').update(model).update('\0').update(text).digest('base64url');
}

/**
 * One batch of one pipeline: load the documents, chunk them, embed the chunks whose text has no
 * stored embedding yet, and write everything back in one fenced transaction.
 * Provider errors propagate (the caller retries or fails the whole batch).
 */
export async function processBatch(args: {
  db: Database;
  pipeline: Pipeline;
  provider: EmbeddingProvider;
  jobs: ClaimedJob[];
  lease: string;
  events: WorkerEvents;
  signal: AbortSignal;
  /** Budget for chunking each document (WorkerConfig.chunkingBudgetMs). */
  chunkingBudgetMs?: number;
}): Promise<BatchOutcome> {
  const { db, pipeline, provider, jobs, lease, events } = args;
  const keys = jobs.map((job) => job.docKey);
  // One read transaction, so JIT can be turned off for it (see NO_JIT).
  const { docs, stored } = await db.transaction(async (tx) => {
    await tx.query(NO_JIT);
    return {
      docs: await loadDocuments(tx, pipeline, keys),
      stored: await loadStoredEmbeddings(tx, pipeline, keys),
    };
  });
  const chunkedStates = new Map<string, string>();
  const perDoc: { docKey: DocKey; chunks: Chunk[] }[] = [];
  const sections: SectionRow[] = [];
  const unchunkable: BatchOutcome['unchunkable'] = [];
  const jobByKey = new Map(jobs.map((job) => [job.docKey, job]));
  const chunkedOf = await chunkDocuments(
    pipeline,
    docs,
    sentenceEmbedder(provider, pipeline, events, args.signal),
    args.chunkingBudgetMs,
  );

  for (const doc of docs) {
    const key = doc.docKey;
    // Chunking is synchronous: let due heartbeats run between documents, so a batch of slow ones
    // blocks the loop for one document's budget at most, never for their sum.
    await new Promise((resolve) => setImmediate(resolve));
    try {
      const chunked = chunkedOf(doc);
      perDoc.push({ docKey: doc.docKey, chunks: chunked.chunks });
      for (const section of chunked.sections ?? []) {
        sections.push({
          docKey: doc.docKey,
          sectionIndex: section.index,
          content: section.content,
          tokenCount: section.tokenCount,
          startChar: section.startChar,
          endChar: section.endChar,
          headingPath: section.headingPath ?? null,
          context: section.context ?? null,
        });
      }
      chunkedStates.set(key, doc.state);
    } catch (error) {
      const job = jobByKey.get(key);
      if (!job) continue;
      unchunkable.push({
        job,
        error:
          error instanceof PgembedError
            ? error
            : new PgembedError('INVALID_ARGUMENT', `could not chunk document: ${String(error)}`, {
                cause: error,
              }),
      });
    }
  }

  // Texts to embed, each once even if several chunks share it.
  const pending = new Map<string, string>();
  // Where each text comes from, for errors such as an input over the provider's limit.
  const locations = new Map<string, string>();
  const rows: (Omit<ChunkRow, 'embedding'> & { embedding: ArrayLike<number> | undefined })[] = [];
  let reused = 0;
  for (const doc of perDoc) {
    for (const chunk of doc.chunks) {
      // What the model reads: the context (title, heading path) ahead of the content, when there is one.
      const text = embeddingText(chunk);
      const hash = chunkHash(pipeline.model, text);
      const known = stored.get(hash);
      if (known) reused++;
      else {
        pending.set(hash, text);
        locations.set(
          hash,
          `document ${doc.docKey}, chunk ${chunk.index} (characters ${chunk.startChar}–${chunk.endChar})`,
        );
      }
      rows.push({
        docKey: doc.docKey,
        chunkIndex: chunk.index,
        content: chunk.content,
        tokenCount: chunk.tokenCount,
        startChar: chunk.startChar,
        endChar: chunk.endChar,
        headingPath: chunk.headingPath ?? null,
        context: chunk.context ?? null,
        parentIndex: chunk.parentIndex ?? null,
        contentHash: hash,
        embedding: known ? (JSON.parse(known) as number[]) : undefined,
      });
    }
  }

  const fresh = await embedAll(provider, pipeline, [...pending.entries()], events, args.signal, (hash) =>
    locations.get(hash),
  );
  const complete: ChunkRow[] = rows.map((row) => ({
    ...row,
    embedding: row.embedding ?? fresh.get(row.contentHash)!,
  }));

  const keysChunked = new Set(chunkedStates.keys());
  const result = await db.transaction((tx) =>
    writeBack(tx, pipeline, {
      jobIds: jobs.filter((job) => keysChunked.has(job.docKey)).map((job) => job.id),
      lease,
      chunkedStates,
      chunks: complete,
      sections,
    }),
  );
  return { ...result, embedded: pending.size, reused, unchunkable };
}
