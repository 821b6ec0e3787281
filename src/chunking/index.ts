/**
 * pgembed's chunking, usable on its own: `import { chunk } from 'pgembed/chunking'`.
 * One file per strategy; they all size chunks in the embedding model's own tokens and report exact
 * source offsets.
 */
import { PgembedError } from '../errors.js';
import { tokenChunker } from './token.js';
import { tiktokenTokenizer, wordPieceTokenizer } from './tokenizers.js';
import type { Chunk, Chunker, Tokenizer } from './types.js';

export { isGraphemeBreak } from './offsets.js';
export { tokenChunker, validateChunkOptions } from './token.js';
export { type TiktokenEncoding, tiktokenTokenizer, tokenizerFor, wordPieceTokenizer } from './tokenizers.js';
export type { Chunk, Chunker, ChunkOptions, Tokenizer, TokenSegments } from './types.js';

/**
 * Strategies by name. `sentence`, `semantic`, `markdown` and `recursive` (SPEC §6) register here as
 * they are built; the pipeline config refers to strategies by these names.
 */
const STRATEGIES = {
  token: tokenChunker,
} as const satisfies Record<string, Chunker>;

export type StrategyName = keyof typeof STRATEGIES;

/** The tokenizer names `chunk` accepts in place of a `Tokenizer`. */
export type TokenizerName = 'cl100k_base' | 'o200k_base' | 'wordpiece';

export interface ChunkCallOptions {
  /** Default `'token'`. */
  strategy?: StrategyName;
  /** Budget per chunk in tokens; default 400. For `'wordpiece'` (all-MiniLM-L6-v2) it must be ≤ 254. */
  chunkSize?: number;
  /** Tokens repeated from the end of the previous chunk; default 50. */
  chunkOverlap?: number;
  /** Default `'cl100k_base'` (OpenAI's text-embedding-3-* and ada-002). */
  tokenizer?: Tokenizer | TokenizerName;
}

const DEFAULTS = {
  strategy: 'token',
  chunkSize: 400,
  chunkOverlap: 50,
  tokenizer: 'cl100k_base',
} as const satisfies Required<ChunkCallOptions>;

/** The chunker registered as `name`; throws INVALID_ARGUMENT listing the known names otherwise. */
export function getChunker(name: string): Chunker {
  if (Object.hasOwn(STRATEGIES, name)) return STRATEGIES[name as StrategyName];
  throw new PgembedError(
    'INVALID_ARGUMENT',
    `Unknown chunking strategy '${name}'; known strategies: ${Object.keys(STRATEGIES).join(', ')}`,
  );
}

/** Resolves a tokenizer name to its `Tokenizer`; a `Tokenizer` passes through. */
export function resolveTokenizer(tokenizer: Tokenizer | TokenizerName): Tokenizer {
  if (typeof tokenizer !== 'string') return tokenizer;
  switch (tokenizer) {
    case 'cl100k_base':
    case 'o200k_base':
      return tiktokenTokenizer(tokenizer);
    case 'wordpiece':
      return wordPieceTokenizer();
    default:
      throw new PgembedError(
        'INVALID_ARGUMENT',
        `Unknown tokenizer '${String(tokenizer)}'; use 'cl100k_base', 'o200k_base', 'wordpiece' or a Tokenizer`,
      );
  }
}

/**
 * Splits `source` into chunks sized in the embedding model's own tokens. Every chunk satisfies
 * `source.slice(chunk.startChar, chunk.endChar) === chunk.content` and
 * `chunk.tokenCount === tokenizer.count(chunk.content) <= chunkSize`. Empty or whitespace-only input
 * gives no chunks. Invalid sizes throw `PgembedError` with code `INVALID_ARGUMENT`.
 *
 * @example
 * import { chunk } from 'pgembed/chunking';
 *
 * const doc = '# Release notes\n\nVersion 2 adds hybrid search. '.repeat(40);
 * const chunks = chunk(doc, { chunkSize: 100, chunkOverlap: 10 });
 * for (const c of chunks) {
 *   console.log(c.index, c.startChar, c.endChar, c.tokenCount); // 0 0 424 100, then 1 385 814 100, …
 * }
 * // For the local model (all-MiniLM-L6-v2), stay within its 254-piece window:
 * chunk(doc, { tokenizer: 'wordpiece', chunkSize: 254, chunkOverlap: 32 });
 */
export function chunk(source: string, options: ChunkCallOptions = {}): Chunk[] {
  const strategy = options.strategy ?? DEFAULTS.strategy;
  const chunkSize = options.chunkSize ?? DEFAULTS.chunkSize;
  const chunkOverlap = options.chunkOverlap ?? DEFAULTS.chunkOverlap;
  const tokenizer = resolveTokenizer(options.tokenizer ?? DEFAULTS.tokenizer);
  return getChunker(strategy)(source, { chunkSize, chunkOverlap, tokenizer });
}
