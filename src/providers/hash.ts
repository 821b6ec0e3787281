import { createHash, hash } from 'node:crypto';
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
const FLOATS_PER_BLOCK = 8; // a SHA-256 digest is 32 bytes = 8 int32 values

/**
 * The `hash` provider's vector for one text. Pure function of its arguments; the exact algorithm
 * (stable across versions, since stored vectors depend on it) is:
 *
 * 1. `seed = SHA-256(utf8(model) ‖ 0x00 ‖ utf8(text))` — the NUL keeps ("ab","c") and ("a","bc") apart.
 * 2. For block `b = 0, 1, 2, …`: `block_b = SHA-256(seed ‖ uint32_be(b))` (32 + 4 bytes hashed).
 * 3. `raw[j] = int32_le(block_{⌊j/8⌋}, byte offset 4·(j mod 8)) / 2^31`, so each raw value is in [-1, 1).
 * 4. The result is `raw / ‖raw‖₂` (Euclidean unit length), as float64 numbers.
 *
 * Hashing the 32-byte seed rather than the whole text per block keeps long texts cheap: one pass over
 * the text, then ⌈dimensions/8⌉ fixed 36-byte hashes.
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
  const blockInput = Buffer.alloc(36);
  seed.copy(blockInput, 0);
  const out = new Array<number>(dimensions);
  let sumSquares = 0;
  for (let block = 0; block * FLOATS_PER_BLOCK < dimensions; block++) {
    blockInput.writeUInt32BE(block, 32);
    // One-shot hash(): a third of createHash()'s cost per block, the bulk of this function's time.
    const digest = hash('sha256', blockInput, 'buffer');
    const end = Math.min(FLOATS_PER_BLOCK, dimensions - block * FLOATS_PER_BLOCK);
    for (let k = 0; k < end; k++) {
      const value = digest.readInt32LE(k * 4) / INT32_SCALE;
      out[block * FLOATS_PER_BLOCK + k] = value;
      sumSquares += value * value;
    }
  }
  // All-zero raw values would need 8·dims zero bytes from SHA-256; treat it as impossible but never
  // divide by zero.
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
