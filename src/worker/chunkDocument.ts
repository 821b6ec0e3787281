import { chunkHierarchy, type HierarchyLevel } from '../chunking/hierarchical.js';
import { getChunker, tokenizerFor } from '../chunking/index.js';
import type { Chunk, ChunkOptions } from '../chunking/types.js';
import type { Pipeline } from '../pipelines/pipeline.js';

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

/**
 * A document's chunks — and, for a hierarchical pipeline, its parent sections — under its pipeline's
 * settings: strategy, size, overlap and strategy options, in the tokens of the pipeline's model, with
 * the document's title (from its title column) in the context. NULL, empty and whitespace-only
 * content has none. This is the one function that decides a document's chunks: the worker and the
 * invariant checker both call it.
 */
export function chunkDocumentWithSections(
  pipeline: ChunkingSettings,
  content: string | null,
  title?: string | null,
): { chunks: Chunk[]; sections: Chunk[] | undefined } {
  const hierarchical = pipeline.chunkStrategy === 'hierarchical';
  if (content === null || content.trim() === '')
    return { chunks: [], sections: hierarchical ? [] : undefined };
  const options = {
    tokenizer: tokenizerFor(pipeline.provider, pipeline.model),
    ...strategyOptionsOf(pipeline),
    ...(title ? { title } : {}),
  };
  if (hierarchical) return chunkHierarchy(content, levelsOf(pipeline), options, getChunker);
  const chunks = getChunker(pipeline.chunkStrategy)(content, {
    ...options,
    chunkSize: pipeline.chunkSize,
    chunkOverlap: pipeline.chunkOverlap,
  });
  return { chunks, sections: undefined };
}

/** A document's chunks (see `chunkDocumentWithSections`). */
export function chunkDocument(
  pipeline: ChunkingSettings,
  content: string | null,
  title?: string | null,
): Chunk[] {
  return chunkDocumentWithSections(pipeline, content, title).chunks;
}
