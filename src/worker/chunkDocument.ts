import { getChunker, tokenizerFor } from '../chunking/index.js';
import type { Chunk } from '../chunking/types.js';
import type { Pipeline } from '../pipelines/pipeline.js';

/**
 * A document's chunks under its pipeline's settings: strategy, size and overlap in the tokens of the
 * pipeline's model. NULL, empty and whitespace-only content has none.
 */
export function chunkDocument(pipeline: Pipeline, content: string | null): Chunk[] {
  if (content === null || content.trim() === '') return [];
  return getChunker(pipeline.chunkStrategy)(content, {
    chunkSize: pipeline.chunkSize,
    chunkOverlap: pipeline.chunkOverlap,
    tokenizer: tokenizerFor(pipeline.provider, pipeline.model),
  });
}
