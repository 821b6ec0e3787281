/**
 * The `semantic` strategy: natural boundaries kept whole where the budget allows. Sentences are the
 * units; a chunk is filled up to the budget, then ends at the strongest boundary in its second half
 * (a paragraph break beats a line break beats a sentence end), so paragraphs stay together and a chunk
 * ends mid-paragraph only when the paragraph alone is larger than half a chunk.
 *
 * With embedding breakpoints, a chunk also ends wherever the meaning shifts: the sentences are
 * embedded, and where the cosine distance between neighbouring sentences is above a percentile of all
 * such distances in the document, the next chunk starts (LangChain's SemanticChunker and LlamaIndex's
 * SemanticSplitterNodeParser). Between those breaks the budget is filled as above.
 */
import { PgembedError } from '../errors.js';
import { LEVEL, type PackSettings, pack, refineSpans, type Span } from './pack.js';
import { titleSection } from './recursive.js';
import { sentenceSpans } from './sentence.js';
import { validateChunkOptions } from './token.js';
import type { Chunk, Chunker, ChunkOptions } from './types.js';

function settings(): PackSettings {
  return { balance: true, sections: [titleSection()], headingPaths: false };
}

export const semanticChunker: Chunker = (source, options) => {
  validateChunkOptions(options);
  return pack(source, sentenceSpans(source, options), options, settings());
};

/** Embeds texts: one vector per text, in order (a provider's `embed`, for instance). */
export type EmbedTexts = (texts: string[]) => Promise<number[][]>;

/**
 * The default: break above the 95th percentile of a document's neighbour distances, i.e. at its 5 %
 * largest drops in similarity — the default of both LangChain's SemanticChunker and LlamaIndex's
 * SemanticSplitterNodeParser.
 */
const DEFAULT_BREAKPOINT_PERCENTILE = 95;

export interface EmbeddingBreakpointOptions extends ChunkOptions {
  /**
   * A break goes where the distance between neighbouring sentences is above this percentile of the
   * document's distances (0 < p < 100); default 95. Lower means more, smaller chunks.
   */
  breakpointPercentile?: number;
}

/** Semantic chunking with embedding breakpoints, in two steps so the embedding can be batched. */
export interface BreakpointPlan {
  /**
   * What to embed: the document's sentences in source order (a sentence too long for a chunk in the
   * pieces it will be cut into, so each text fits the model). May repeat a text.
   */
  texts: string[];
  /** The chunks, given the vector of every text of `texts`, in the same order. */
  chunks(vectors: readonly (readonly number[])[]): Chunk[];
}

/** Throws INVALID_ARGUMENT unless `percentile` is a number strictly between 0 and 100. */
function validateBreakpointPercentile(percentile: unknown): void {
  if (typeof percentile !== 'number' || !(percentile > 0 && percentile < 100)) {
    throw new PgembedError(
      'INVALID_ARGUMENT',
      `breakpointPercentile must be a number greater than 0 and less than 100 (got ${String(percentile)}); the default is ${DEFAULT_BREAKPOINT_PERCENTILE}`,
    );
  }
}

/**
 * Plans the semantic chunks of `source` with breaks where adjacent sentences' embeddings drift
 * apart. Each sentence is compared with its neighbours' context, as the reference implementations do
 * with a buffer of one sentence either side, but by summing the three sentences' unit vectors rather
 * than embedding the three sentences' text again: every sentence is embedded once, so the cost is one
 * pass of the document's text through the model, not three. A break is never placed inside a
 * sentence, and the budget, offsets and overlap rules are those of `semantic`; no overlap is carried
 * across a break.
 */
export function planEmbeddingBreakpoints(
  source: string,
  options: EmbeddingBreakpointOptions,
): BreakpointPlan {
  validateChunkOptions(options);
  const percentile = options.breakpointPercentile ?? DEFAULT_BREAKPOINT_PERCENTILE;
  validateBreakpointPercentile(percentile);
  const units = refineSpans(source, sentenceSpans(source, options), options, settings());
  const texts = units.map((unit) => source.slice(unit.start, unit.end));
  return {
    texts,
    chunks(vectors) {
      if (vectors.length !== texts.length) {
        throw new PgembedError(
          'INVALID_ARGUMENT',
          `the plan has ${texts.length} texts but ${vectors.length} vectors were given`,
        );
      }
      const distances = neighbourDistances(vectors);
      const candidates: number[] = [];
      for (let k = 1; k < units.length; k++) if (units[k]!.level >= LEVEL.sentence) candidates.push(k);
      const values = candidates.map((k) => distances[k]!);
      const threshold = percentileOf(values, percentile);
      // Above the percentile, as the references break; and the largest drop always, ties included,
      // so that two equally sharp changes of topic do not cancel each other out (with a strict
      // threshold they would: the percentile of a short document lands on their shared value).
      const largest = values.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY);
      const smallest = values.reduce((a, b) => Math.min(a, b), Number.POSITIVE_INFINITY);
      const breaks = (d: number) => d > threshold || (d === largest && largest > smallest);
      const spans: Span[] = units.slice();
      for (const k of candidates) if (breaks(distances[k]!)) spans[k] = { ...units[k]!, hard: true };
      return pack(source, spans, options, settings());
    },
  };
}

/**
 * distances[k] (k ≥ 1): cosine distance between the context of unit k-1 and that of unit k, where a
 * unit's context is the sum of its own and its neighbours' unit vectors. distances[0] is 0.
 */
function neighbourDistances(vectors: readonly (readonly number[])[]): number[] {
  const n = vectors.length;
  const unit = vectors.map((v) => {
    const norm = Math.sqrt(v.reduce((sum, x) => sum + x * x, 0));
    return norm === 0 ? v : v.map((x) => x / norm);
  });
  const windows = unit.map((v, k) =>
    v.map((x, d) => x + (k > 0 ? unit[k - 1]![d]! : 0) + (k + 1 < n ? unit[k + 1]![d]! : 0)),
  );
  const distances = [0];
  for (let k = 1; k < n; k++) distances.push(1 - cosine(windows[k - 1]!, windows[k]!));
  return distances;
}

/** Cosine similarity; 0 when either vector is all zeros. */
function cosine(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  let aa = 0;
  let bb = 0;
  for (let d = 0; d < a.length; d++) {
    dot += a[d]! * b[d]!;
    aa += a[d]! * a[d]!;
    bb += b[d]! * b[d]!;
  }
  return aa === 0 || bb === 0 ? 0 : dot / Math.sqrt(aa * bb);
}

/** The p-th percentile with linear interpolation between ranks (numpy's default, as the references use). */
function percentileOf(values: number[], p: number): number {
  if (values.length === 0) return Number.POSITIVE_INFINITY;
  const sorted = values.slice().sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (rank - low);
}

/**
 * Embeds `texts` with one call of `embed`, each distinct text once, and returns one vector per text
 * in order. Anything but one finite vector per text, all of one non-zero length, throws
 * PROVIDER_BAD_RESPONSE (retriable: a provider may answer better next time).
 */
export async function embedEach(texts: readonly string[], embed: EmbedTexts): Promise<number[][]> {
  if (texts.length === 0) return [];
  const distinct = [...new Set(texts)];
  const vectors = await embed(distinct);
  const bad = (what: string) =>
    new PgembedError('PROVIDER_BAD_RESPONSE', `the embedding function ${what}; no chunks were made`, {
      kind: 'retriable',
    });
  if (!Array.isArray(vectors) || vectors.length !== distinct.length) {
    throw bad(
      `returned ${Array.isArray(vectors) ? vectors.length : 'no list of'} vectors for ${distinct.length} texts`,
    );
  }
  const dimensions = Array.isArray(vectors[0]) ? vectors[0].length : 0;
  vectors.forEach((vector, i) => {
    if (!Array.isArray(vector) || vector.length === 0 || vector.length !== dimensions)
      throw bad(
        `returned a vector of ${Array.isArray(vector) ? vector.length : 'no'} dimensions for text ${i} (the first had ${dimensions})`,
      );
    if (!vector.every(Number.isFinite)) throw bad(`returned a vector with a non-finite number for text ${i}`);
  });
  const byText = new Map(distinct.map((text, i) => [text, vectors[i]!]));
  return texts.map((text) => byText.get(text)!);
}
