import { createHash } from 'node:crypto';
import { PgembedError } from '../errors.js';
import type { EmbeddingProvider } from './types.js';

export const HASH_DEFAULT_MODEL = 'hash-v1';
export const HASH_DEFAULT_DIMENSIONS = 768;
/** pgvector's limit for `vector` and `halfvec` columns. */
export const HASH_MAX_DIMENSIONS = 16_000;

export interface HashProviderOptions {
  /** Mixed into every vector, so two models never agree by accident. Default 'hash-v1'. */
  model?: string | undefined;
  /** Default 768. */
  dimensions?: number | undefined;
}

const INT32_SCALE = 2 ** 31;

const rotl = (x: number, k: number) => (x << k) | (x >>> (32 - k));

/**
 * The `hash` provider's vector for one text. Pure function of its arguments; the exact algorithm
 * (stored vectors depend on it) is:
 *
 * 1. `seed = SHA-256(utf8(model) ‖ 0x00 ‖ utf8(text))` — the NUL keeps ("ab","c") and ("a","bc") apart.
 * 2. The state `s0…s3` of xoshiro128** is `uint32_le(seed, 0), …, uint32_le(seed, 12)` (if all four are
 *    zero, `s0 = 1`).
 * 3. `raw[j]` is the j-th output of xoshiro128** read as a signed int32, divided by 2^31, so each raw
 *    value is in [-1, 1).
 * 4. The result is `raw / ‖raw‖₂` (Euclidean unit length), as float64 numbers.
 *
 * One pass of SHA-256 over the text, then a few integer operations per dimension: about 7 µs for
 * 768 dimensions here, against ~100 µs when every 8 dimensions took a SHA-256 block of their own.
 *
 * @example
 * ```ts
 * const v = hashEmbedding('hello world', 768, 'hash-v1');
 * v.length; // 768
 * Math.hypot(...v); // 1 (± rounding)
 * ```
 */
export function hashEmbedding(text: string, dimensions: number, model: string): number[] {
  if (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > HASH_MAX_DIMENSIONS) {
    throw new PgembedError(
      'INVALID_ARGUMENT',
      `dimensions must be an integer between 1 and ${HASH_MAX_DIMENSIONS}`,
    );
  }
  const seed = createHash('sha256')
    .update(model, 'utf8')
    .update('\u0000', 'utf8')
    .update(text, 'utf8')
    .digest();
  let s0 = seed.readUInt32LE(0);
  let s1 = seed.readUInt32LE(4);
  let s2 = seed.readUInt32LE(8);
  let s3 = seed.readUInt32LE(12);
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1;
  const out = new Array<number>(dimensions);
  let sumSquares = 0;
  for (let j = 0; j < dimensions; j++) {
    // xoshiro128** (Blackman & Vigna): result = rotl(s1 * 5, 7) * 9, then the state update.
    const value = (Math.imul(rotl(Math.imul(s1, 5), 7), 9) | 0) / INT32_SCALE;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11);
    out[j] = value;
    sumSquares += value * value;
  }
  // All-zero raw values cannot come out of a non-zero xoshiro state for long; never divide by zero.
  const norm = Math.sqrt(sumSquares) || 1;
  for (let j = 0; j < dimensions; j++) out[j] = out[j]! / norm;
  return out;
}

/**
 * Deterministic, offline provider for tests and demos: no network, no model, any dimensions. Vectors
 * carry no meaning (similar texts are not closer); see {@link hashEmbedding} for the algorithm.
 *
 * @example
 * ```ts
 * const provider = createHashProvider({ dimensions: 3 });
 * const [vector] = await provider.embed(['hello'], { inputType: 'document' });
 * ```
 */
export function createHashProvider(options: HashProviderOptions = {}): EmbeddingProvider {
  const model = options.model || HASH_DEFAULT_MODEL;
  const dimensions = options.dimensions ?? HASH_DEFAULT_DIMENSIONS;
  // Validate now (not on first embed) so a bad pipeline config fails when it is loaded.
  hashEmbedding('', dimensions, model);
  return {
    name: 'hash',
    model,
    dimensions,
    // Same limits as OpenAI's, so tests exercise the batching a real deployment would see. Advisory:
    // nothing here is sent anywhere, so larger calls are not refused.
    maxBatchSize: 2048,
    maxInputTokens: 8192,
    async embed(texts, embedOptions) {
      embedOptions.signal?.throwIfAborted();
      // Query and document vectors are identical: there is no model to tell them apart.
      return texts.map((text) => hashEmbedding(text, dimensions, model));
    },
  };
}
