import { PgembedError } from '../errors.js';
import type { Pipeline } from '../pipelines/pipeline.js';
import type { EmbeddingProvider } from '../providers/types.js';
import type { WorkerEvents } from './events.js';

/**
 * Embeds the texts of a batch (keyed by chunk hash) in provider-sized requests, and checks that every
 * vector has the pipeline's dimensions: a wrong one fails the batch before anything is written.
 */
export async function embedAll(
  provider: EmbeddingProvider,
  pipeline: Pipeline,
  texts: [hash: string, text: string][],
  events: WorkerEvents,
  signal: AbortSignal,
): Promise<Map<string, number[]>> {
  const vectors = new Map<string, number[]>();
  for (let start = 0; start < texts.length; start += provider.maxBatchSize) {
    const slice = texts.slice(start, start + provider.maxBatchSize);
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
        );
      }
      vectors.set(slice[i]![0], vector);
    });
  }
  return vectors;
}
