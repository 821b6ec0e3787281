/**
 * pgembed's chunking, usable on its own: `import { chunk } from 'pgembed/chunking'`.
 * One file per strategy; they all size chunks in the embedding model's own tokens and report exact
 * source offsets.
 */
import { PgembedError } from '../errors.js';
import type { ChunkDeadline } from './deadline.js';
import { chunkHierarchy, type Hierarchy, type HierarchyLevel } from './hierarchical.js';
import { markdownChunker } from './markdown.js';
import { recursiveChunker } from './recursive.js';
import { type EmbedTexts, embedEach, planEmbeddingBreakpoints, semanticChunker } from './semantic.js';
import { sentenceChunker } from './sentence.js';
import { tokenChunker, validateChunkOptions } from './token.js';
import { tiktokenTokenizer, wordPieceTokenizer } from './tokenizers.js';
import type { Chunk, Chunker, ChunkOptions, Tokenizer } from './types.js';

export { type ChunkDeadline, chunkingDeadline } from './deadline.js';
export type { Hierarchy, HierarchyLevel } from './hierarchical.js';
export { type Block, markdownChunker, scanBlocks } from './markdown.js';
export { isGraphemeBreak } from './offsets.js';
export { embeddingText } from './pack.js';
export { recursiveChunker } from './recursive.js';
export {
  type BreakpointPlan,
  type EmbeddingBreakpointOptions,
  type EmbedTexts,
  embedEach,
  planEmbeddingBreakpoints,
  semanticChunker,
} from './semantic.js';
export { sentenceChunker } from './sentence.js';
export { tokenChunker, validateChunkOptions } from './token.js';
export { type TiktokenEncoding, tiktokenTokenizer, tokenizerFor, wordPieceTokenizer } from './tokenizers.js';
export type { Chunk, Chunker, ChunkOptions, Tokenizer, TokenSegments } from './types.js';

/**
 * Strategies by name (SPEC §6); the pipeline config refers to strategies by these names, and
 * `pgembed._chunk_strategies()` in SQL lists the same ones.
 */
const STRATEGIES = {
  token: tokenChunker,
  sentence: sentenceChunker,
  semantic: semanticChunker,
  markdown: markdownChunker,
  recursive: recursiveChunker,
} as const satisfies Record<string, Chunker>;

/** The strategy names, in the order the docs list them. */
export const STRATEGY_NAMES = Object.keys(STRATEGIES) as StrategyName[];

export type StrategyName = keyof typeof STRATEGIES;

/** The tokenizer names `chunk` accepts in place of a `Tokenizer`. */
export type TokenizerName = 'cl100k_base' | 'o200k_base' | 'wordpiece';

export interface ChunkCallOptions {
  /** Default `'token'`. */
  strategy?: StrategyName;
  /**
   * Budget per chunk in tokens; default 400, or the tokenizer's `maxInputTokens` when smaller
   * (`'wordpiece'`, all-MiniLM-L6-v2: 254). A budget above `maxInputTokens` is refused.
   */
  chunkSize?: number;
  /** Tokens repeated from the end of the previous chunk; default 50. */
  chunkOverlap?: number;
  /** Default `'cl100k_base'` (OpenAI's text-embedding-3-* and ada-002). */
  tokenizer?: Tokenizer | TokenizerName;
  /** Title and heading path ahead of each chunk for the embedder (`Chunk.context`); default on for `markdown` only. */
  context?: boolean;
  /** Document title for the context (markdown falls back to front matter `title:` or the first heading). */
  title?: string;
  /** Between headings in the context's path; default `' > '`. */
  headingSeparator?: string;
  /** Locale for sentence segmentation; default the runtime's. */
  locale?: string;
  /** Stops chunking with CHUNKING_TIMEOUT once spent: `chunkingDeadline(ms, () => 'my document')`. */
  deadline?: ChunkDeadline;
}

const DEFAULTS = {
  strategy: 'token',
  chunkSize: 400,
  chunkOverlap: 50,
  tokenizer: 'cl100k_base',
} as const satisfies Required<
  Pick<ChunkCallOptions, 'strategy' | 'chunkSize' | 'chunkOverlap' | 'tokenizer'>
>;

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
 * // Structure-aware, with the heading path as context for the embedder:
 * const [first] = chunk(doc, { strategy: 'markdown', chunkSize: 100 });
 * first.headingPath; // ['Release notes']
 * embeddingText(first); // "# Release notes", a blank line, then the content
 * // For the local model (all-MiniLM-L6-v2), stay within its 254-piece window:
 * chunk(doc, { tokenizer: 'wordpiece', chunkSize: 254, chunkOverlap: 32 });
 */
export function chunk(source: string, options: ChunkCallOptions = {}): Chunk[] {
  if ('embed' in options || 'breakpointPercentile' in options) {
    throw new PgembedError(
      'INVALID_ARGUMENT',
      'chunk() is synchronous and cannot wait for embeddings: use chunkWithEmbeddings() for breaks by embedding similarity',
    );
  }
  const { strategy, ...resolved } = resolveCallOptions(options);
  return getChunker(strategy)(source, resolved);
}

function resolveCallOptions(options: ChunkCallOptions): ChunkOptions & { strategy: StrategyName } {
  const strategy = options.strategy ?? DEFAULTS.strategy;
  const tokenizer = resolveTokenizer(options.tokenizer ?? DEFAULTS.tokenizer);
  const limit = tokenizer.maxInputTokens ?? Number.POSITIVE_INFINITY;
  const chunkSize = options.chunkSize ?? Math.min(DEFAULTS.chunkSize, limit);
  if (chunkSize > limit) {
    throw new PgembedError(
      'INVALID_ARGUMENT',
      `chunkSize ${chunkSize} exceeds the ${limit} tokens ${tokenizer.name} models read; the model would silently ignore the rest — use chunkSize ${limit} or less`,
    );
  }
  const chunkOverlap = options.chunkOverlap ?? Math.min(DEFAULTS.chunkOverlap, chunkSize - 1);
  const { context, title, headingSeparator, locale, deadline } = options;
  return {
    strategy,
    ...(deadline === undefined ? {} : { deadline }),
    chunkSize,
    chunkOverlap,
    tokenizer,
    ...(context === undefined ? {} : { context }),
    ...(title === undefined ? {} : { title }),
    ...(headingSeparator === undefined ? {} : { headingSeparator }),
    ...(locale === undefined ? {} : { locale }),
  };
}

export interface EmbeddingChunkOptions extends Omit<ChunkCallOptions, 'strategy'> {
  /** Only `'semantic'` places breaks by embedding similarity (the default here). */
  strategy?: 'semantic';
  /** Embeds the document's sentences, one vector per text, in order: e.g. a provider's `embed`. */
  embed: EmbedTexts;
  /**
   * A chunk ends where the distance between neighbouring sentences is above this percentile of the
   * document's distances: 0 < p < 100, default 95 (LangChain's and LlamaIndex's default).
   */
  breakpointPercentile?: number;
}

/**
 * The `semantic` strategy with breaks where the meaning shifts: the document's sentences are embedded
 * (one call of `embed`, each distinct sentence once), and a chunk ends wherever the cosine distance
 * between neighbouring sentences (each with one sentence of context either side) is above the
 * `breakpointPercentile`-th percentile of the document's distances. Between breaks, chunks are filled
 * as `semantic` fills them. Every guarantee of `chunk()` holds; the result is a pure function of the
 * text, the options and the vectors `embed` returns.
 *
 * @example
 * import { chunkWithEmbeddings } from 'pgembed/chunking';
 * import { createProvider } from 'pgembed';
 *
 * const provider = createProvider({ provider: 'local', model: 'all-MiniLM-L6-v2' });
 * const chunks = await chunkWithEmbeddings(text, {
 *   tokenizer: 'wordpiece',
 *   embed: (texts) => provider.embed(texts, { inputType: 'document' }),
 *   breakpointPercentile: 90,
 * });
 */
export async function chunkWithEmbeddings(source: string, options: EmbeddingChunkOptions): Promise<Chunk[]> {
  const { embed, breakpointPercentile, ...rest } = options;
  if ((rest.strategy ?? 'semantic') !== 'semantic') {
    throw new PgembedError(
      'INVALID_ARGUMENT',
      `breaks by embedding similarity belong to the semantic strategy, not '${String(rest.strategy)}'`,
    );
  }
  if (typeof embed !== 'function') {
    throw new PgembedError(
      'INVALID_ARGUMENT',
      'chunkWithEmbeddings needs embed: (texts) => Promise<number[][]>',
    );
  }
  const { strategy: _semantic, ...resolved } = resolveCallOptions({ ...rest, strategy: 'semantic' });
  const plan = planEmbeddingBreakpoints(source, {
    ...resolved,
    ...(breakpointPercentile === undefined ? {} : { breakpointPercentile }),
  });
  return plan.chunks(await embedEach(plan.texts, embed));
}

export interface HierarchicalCallOptions
  extends Omit<ChunkCallOptions, 'strategy' | 'chunkSize' | 'chunkOverlap'> {
  /** Sections first, then the chunks cut from each section; default markdown 2000/0, then semantic 400/50. */
  levels?: HierarchyLevel[];
}

/**
 * Hierarchical chunking: sections by one strategy, then chunks by another inside each section. Chunks
 * carry `parentIndex` (their section's `index`) and, by default, their section's title and heading
 * path as context. Only the chunks' size is bounded by the model; sections are for reading, not
 * embedding.
 *
 * @example
 * import { chunkHierarchical } from 'pgembed/chunking';
 *
 * const { sections, chunks } = chunkHierarchical('# Guide\n\nStep one. Step two.', {
 *   levels: [
 *     { strategy: 'markdown', chunkSize: 2000, chunkOverlap: 0 },
 *     { strategy: 'semantic', chunkSize: 400, chunkOverlap: 50 },
 *   ],
 * });
 * sections[chunks[0].parentIndex!].headingPath; // ['Guide']
 */
export function chunkHierarchical(source: string, options: HierarchicalCallOptions = {}): Hierarchy {
  const tokenizer = resolveTokenizer(options.tokenizer ?? DEFAULTS.tokenizer);
  const levels = options.levels ?? [
    { strategy: 'markdown', chunkSize: 2000, chunkOverlap: 0 },
    { strategy: 'semantic', chunkSize: Math.min(400, tokenizer.maxInputTokens ?? 400), chunkOverlap: 50 },
  ];
  const limit = tokenizer.maxInputTokens ?? Number.POSITIVE_INFINITY;
  const inner = levels[levels.length - 1];
  if (inner && inner.chunkSize > limit) {
    throw new PgembedError(
      'INVALID_ARGUMENT',
      `the chunks' chunkSize ${inner.chunkSize} exceeds the ${limit} tokens ${tokenizer.name} models read; use ${limit} or less`,
    );
  }
  for (const level of levels) validateChunkOptions(level);
  const { context, title, headingSeparator, locale } = options;
  return chunkHierarchy(
    source,
    levels,
    {
      tokenizer,
      ...(context === undefined ? {} : { context }),
      ...(title === undefined ? {} : { title }),
      ...(headingSeparator === undefined ? {} : { headingSeparator }),
      ...(locale === undefined ? {} : { locale }),
    },
    getChunker,
  );
}
