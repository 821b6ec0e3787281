import { chunkHierarchy, type HierarchyLevel } from '../chunking/hierarchical.js';
import {
  type BreakpointPlan,
  type ChunkDeadline,
  chunkingDeadline,
  type EmbedTexts,
  embedEach,
  getChunker,
  planEmbeddingBreakpoints,
  tokenizerFor,
} from '../chunking/index.js';
import type { Chunk, ChunkOptions } from '../chunking/types.js';
import { PgembedError } from '../errors.js';
import type { Pipeline } from '../pipelines/pipeline.js';
import type { EmbeddingProvider } from '../providers/types.js';
import { embedAll } from './embed.js';
import type { WorkerEvents } from './events.js';

/** The strategy options a pipeline stores (`pgembed.pipelines.chunk_options`), as the chunkers take them. */
export function strategyOptionsOf(
  pipeline: Pick<Pipeline, 'chunkOptions'>,
): Pick<ChunkOptions, 'context' | 'headingSeparator' | 'locale'> {
  const stored = pipeline.chunkOptions ?? {};
  const out: Pick<ChunkOptions, 'context' | 'headingSeparator' | 'locale'> = {};
  if (typeof stored.context === 'boolean') out.context = stored.context;
  if (typeof stored.heading_separator === 'string') out.headingSeparator = stored.heading_separator;
  if (typeof stored.locale === 'string') out.locale = stored.locale;
  return out;
}

/**
 * For a pipeline whose `semantic` chunks break where the embeddings of neighbouring sentences drift
 * apart (`chunk_options` `{"breakpoints": "embedding"}`), its breakpoint options; undefined otherwise.
 */
export function embeddingBreakpointsOf(
  pipeline: Pick<Pipeline, 'chunkStrategy' | 'chunkOptions'>,
): { breakpointPercentile?: number } | undefined {
  const stored = pipeline.chunkOptions ?? {};
  if (pipeline.chunkStrategy !== 'semantic' || stored.breakpoints !== 'embedding') return undefined;
  const percentile = stored.breakpoint_percentile;
  return percentile === undefined ? {} : { breakpointPercentile: percentile as number };
}

/** A document's own chunking settings (`pgembed.chunk_overrides`, set by `rechunk_document`). */
export interface ChunkOverride {
  chunkStrategy: string;
  chunkSize: number;
  chunkOverlap: number;
  chunkOptions: Record<string, unknown>;
}

/** The pipeline's settings with a document's own settings, when it has some, in their place. */
export function withOverride<
  P extends Pick<Pipeline, 'chunkStrategy' | 'chunkSize' | 'chunkOverlap' | 'chunkOptions'>,
>(pipeline: P, override: ChunkOverride | null | undefined): P {
  return override ? { ...pipeline, ...override } : pipeline;
}

/** The source column holding each document's title, when the pipeline has one. */
export function titleColumnOf(pipeline: Pick<Pipeline, 'chunkOptions'>): string | undefined {
  const column = pipeline.chunkOptions?.title_column;
  return typeof column === 'string' ? column : undefined;
}

type ChunkingSettings = Pick<
  Pipeline,
  'chunkStrategy' | 'chunkSize' | 'chunkOverlap' | 'chunkOptions' | 'provider' | 'model'
>;

/** The levels of a hierarchical pipeline, from its stored options (snake_case jsonb). */
export function levelsOf(pipeline: Pick<Pipeline, 'chunkOptions'>): HierarchyLevel[] {
  const stored = pipeline.chunkOptions?.levels;
  if (!Array.isArray(stored)) return [];
  return stored.map((level: { strategy: string; chunk_size: number; chunk_overlap: number }) => ({
    strategy: level.strategy,
    chunkSize: level.chunk_size,
    chunkOverlap: level.chunk_overlap,
  }));
}

export interface ChunkedDocument {
  chunks: Chunk[];
  /** A hierarchical pipeline's parent sections; undefined for other pipelines. */
  sections: Chunk[] | undefined;
}

function optionsOf(pipeline: ChunkingSettings, title: string | null | undefined, deadline?: ChunkDeadline) {
  return {
    tokenizer: tokenizerFor(pipeline.provider, pipeline.model),
    ...strategyOptionsOf(pipeline),
    ...(title ? { title } : {}),
    ...(deadline ? { deadline } : {}),
  };
}

/**
 * A document's chunks — and, for a hierarchical pipeline, its parent sections — under its pipeline's
 * settings: strategy, size, overlap and strategy options, in the tokens of the pipeline's model, with
 * the document's title (from its title column) in the context. NULL, empty and whitespace-only
 * content has none. Synchronous: a pipeline whose breaks depend on embeddings is chunked with
 * `chunkDocuments`, which embeds the sentences first.
 */
export function chunkDocumentWithSections(
  pipeline: ChunkingSettings,
  content: string | null,
  title?: string | null,
  deadline?: ChunkDeadline,
): ChunkedDocument {
  const hierarchical = pipeline.chunkStrategy === 'hierarchical';
  if (content === null || content.trim() === '')
    return { chunks: [], sections: hierarchical ? [] : undefined };
  const options = optionsOf(pipeline, title, deadline);
  if (hierarchical) return chunkHierarchy(content, levelsOf(pipeline), options, getChunker);
  if (embeddingBreakpointsOf(pipeline)) {
    throw new PgembedError(
      'INVALID_ARGUMENT',
      'this semantic chunking places breaks by embedding similarity, so it needs the sentences embedded first: use chunkDocuments()',
    );
  }
  const chunks = getChunker(pipeline.chunkStrategy)(content, {
    ...options,
    chunkSize: pipeline.chunkSize,
    chunkOverlap: pipeline.chunkOverlap,
  });
  return { chunks, sections: undefined };
}

/** A document as the worker loads it: its content, title, and its own settings when it has some. */
export interface DocumentToChunk {
  content: string | null;
  title?: string | null;
  override?: ChunkOverride | null;
  /** Names the document in a CHUNKING_TIMEOUT error. */
  docKey?: unknown;
}

/**
 * A document's chunking budget, started now: CHUNKING_TIMEOUT names the document, its length and
 * strategy. Undefined when there is no budget.
 */
function deadlineFor(
  doc: DocumentToChunk,
  settings: ChunkingSettings,
  budgetMs: number | undefined,
): ChunkDeadline | undefined {
  if (budgetMs === undefined || doc.content === null) return undefined;
  const length = doc.content.length;
  return chunkingDeadline(
    budgetMs,
    () =>
      `${doc.docKey === undefined ? 'a document' : `document ${String(doc.docKey)}`} (${length.toLocaleString('en-US')} characters, strategy ${settings.chunkStrategy})`,
  );
}

/**
 * Chunks a batch of documents of one pipeline — the one function that decides a document's chunks:
 * the worker and the invariant checker both call it. Documents whose settings (the pipeline's, or
 * their own) place `semantic` breaks by embedding similarity have their sentences embedded first, all
 * in one call of `embed` with each distinct sentence once, so a batch costs one round of provider
 * requests, not one per document. Resolves to a function giving a document's chunks (and sections),
 * which throws what keeps that document from being chunked (a bad setting, text that cannot be cut)
 * so that one bad document fails alone; the others are chunked on demand exactly as by
 * `chunkDocumentWithSections`, without waiting for anything. A failing `embed` rejects.
 */
export async function chunkDocuments<D extends DocumentToChunk>(
  pipeline: ChunkingSettings,
  docs: readonly D[],
  embed: EmbedTexts,
  /** Wall-clock budget per document (`chunkingBudgetMs`); none when undefined. */
  budgetMs?: number,
): Promise<(doc: D) => ChunkedDocument> {
  const plans = new Map<D, BreakpointPlan | { error: unknown }>();
  const texts: string[] = [];
  for (const doc of docs) {
    const settings = withOverride(pipeline, doc.override);
    const breakpoints = embeddingBreakpointsOf(settings);
    if (!breakpoints || doc.content === null || doc.content.trim() === '') continue;
    try {
      const plan = planEmbeddingBreakpoints(doc.content, {
        ...optionsOf(settings, doc.title, deadlineFor(doc, settings, budgetMs)),
        chunkSize: settings.chunkSize,
        chunkOverlap: settings.chunkOverlap,
        ...breakpoints,
      });
      plans.set(doc, plan);
      for (const text of plan.texts) texts.push(text);
    } catch (error) {
      plans.set(doc, { error });
    }
  }
  const vectors = await embedEach(texts, embed);
  const chunked = new Map<D, ChunkedDocument | { error: unknown }>();
  let at = 0;
  for (const [doc, plan] of plans) {
    if ('error' in plan) {
      chunked.set(doc, plan);
      continue;
    }
    const own = vectors.slice(at, at + plan.texts.length);
    at += plan.texts.length;
    try {
      chunked.set(doc, { chunks: plan.chunks(own), sections: undefined });
    } catch (error) {
      chunked.set(doc, { error });
    }
  }
  return (doc) => {
    const result = chunked.get(doc);
    if (!result) {
      const settings = withOverride(pipeline, doc.override);
      return chunkDocumentWithSections(
        settings,
        doc.content,
        doc.title,
        deadlineFor(doc, settings, budgetMs),
      );
    }
    if ('error' in result) throw result.error;
    return result;
  };
}

/**
 * The pipeline's provider as the `embed` of `chunkDocuments`, through the worker's request path for
 * chunks (`embedAll`: requests sized to the provider's limits, its rate limiting and retries, the
 * dimension check, `provider:called` events).
 */
export function sentenceEmbedder(
  provider: EmbeddingProvider,
  pipeline: Pipeline,
  events: WorkerEvents,
  signal: AbortSignal,
): EmbedTexts {
  return async (texts) => {
    const vectors = await embedAll(
      provider,
      pipeline,
      texts.map((text) => [text, text]),
      events,
      signal,
      () => 'a sentence embedded to place semantic breaks',
    );
    return texts.map((text) => vectors.get(text)!);
  };
}
