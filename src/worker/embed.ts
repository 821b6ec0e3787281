import { PgembedError } from '../errors.js';
import type { Pipeline } from '../pipelines/pipeline.js';
import type { EmbeddingProvider } from '../providers/types.js';
import type { WorkerEvents } from './events.js';

/** Where a chunk comes from, for an error that must point at it ("document [42], chunk 3, chars 1200–2950"). */
export type ChunkLocator = (hash: string) => string | undefined;

export interface PlannedBatch {
  /** Indexes into the input list. */
  items: number[];
  tokens: number;
}

/**
 * Splits inputs into requests that respect both of the provider's limits: at most `maxBatchSize`
 * inputs and at most `maxBatchTokens` tokens (as the provider counts them), in input order.
 * An input over `maxInputTokens` when the count is exact throws INPUT_TOO_LONG naming the chunk: it
 * is a chunking bug (or a chunk_size above what the model reads), and is never truncated.
 */
export function planBatches(
  provider: EmbeddingProvider,
  texts: readonly string[],
  describe: (index: number) => string = (index) => `input ${index}`,
): PlannedBatch[] {
  const maxCount = Math.max(1, provider.maxBatchSize);
  const maxTokens = provider.maxBatchTokens ?? Number.POSITIVE_INFINITY;
  const count = provider.countTokens;
  const batches: PlannedBatch[] = [];
  let current: PlannedBatch = { items: [], tokens: 0 };
  texts.forEach((text, index) => {
    const tokens = count ? count(text) : 0;
    if (provider.tokenCountExact && tokens > provider.maxInputTokens) {
      throw new PgembedError(
        'INPUT_TOO_LONG',
        `${describe(index)} has ${tokens} tokens but ${provider.name} ${provider.model} reads at most ${provider.maxInputTokens}; ` +
          'nothing was sent or truncated: lower the pipeline chunk_size (this is a chunking bug if chunk_size is already below the limit)',
        { kind: 'permanent' },
      );
    }
    if (
      current.items.length > 0 &&
      (current.items.length >= maxCount || current.tokens + tokens > maxTokens)
    ) {
      batches.push(current);
      current = { items: [], tokens: 0 };
    }
    current.items.push(index);
    current.tokens += tokens;
  });
  if (current.items.length > 0) batches.push(current);
  return batches;
}

/**
 * Embeds the texts of a batch (keyed by chunk hash) in provider-sized requests (by count and by
 * tokens), and checks that every vector has the pipeline's dimensions: a wrong one fails the batch
 * with DIMENSION_MISMATCH before anything is written.
 */
export async function embedAll(
  provider: EmbeddingProvider,
  pipeline: Pipeline,
  texts: [hash: string, text: string][],
  events: WorkerEvents,
  signal: AbortSignal,
  locate?: ChunkLocator,
): Promise<Map<string, number[]>> {
  const vectors = new Map<string, number[]>();
  const plan = planBatches(
    provider,
    texts.map(([, text]) => text),
    (index) => locate?.(texts[index]![0]) ?? `a chunk of pipeline ${pipeline.name}`,
  );
  for (const batch of plan) {
    const slice = batch.items.map((index) => texts[index]!);
    const began = performance.now();
    const result = await provider.embed(
      slice.map(([, text]) => text),
      { inputType: 'document', signal },
    );
    events.emit('provider:called', {
      pipeline: pipeline.name,
      provider: pipeline.provider,
      model: pipeline.model,
      inputs: slice.length,
      tokens: batch.tokens,
      durationMs: performance.now() - began,
    });
    if (result.length !== slice.length) {
      throw new PgembedError(
        'PROVIDER_BAD_RESPONSE',
        `provider ${pipeline.provider} returned ${result.length} embeddings for ${slice.length} inputs`,
        { kind: 'retriable' },
      );
    }
    result.forEach((vector, i) => {
      if (vector.length !== pipeline.dimensions) {
        throw new PgembedError(
          'DIMENSION_MISMATCH',
          `model ${pipeline.model} returned ${vector.length} dimensions but the chunk table ${pipeline.chunkTable} holds ${pipeline.dimensions}; nothing was written`,
          { kind: 'permanent' },
        );
      }
      vectors.set(slice[i]![0], vector);
    });
  }
  return vectors;
}
