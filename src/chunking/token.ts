/**
 * The `token` strategy: fixed windows of at most `chunkSize` model tokens, each repeating up to
 * `chunkOverlap` tokens from the end of the one before, cut only at token boundaries.
 */
import { PgembedError } from '../errors.js';
import type { Chunk, Chunker, ChunkOptions, Tokenizer, TokenSegments } from './types.js';

/** Validates the sizes every strategy shares; messages are part of the API (docs/errors.md). */
export function validateChunkOptions(options: Pick<ChunkOptions, 'chunkSize' | 'chunkOverlap'>): void {
  const { chunkSize, chunkOverlap } = options;
  if (!Number.isInteger(chunkSize) || chunkSize < 1) {
    throw new PgembedError('INVALID_ARGUMENT', `chunkSize must be an integer ≥ 1 (got ${String(chunkSize)})`);
  }
  if (!Number.isInteger(chunkOverlap) || chunkOverlap < 0 || chunkOverlap >= chunkSize) {
    throw new PgembedError(
      'INVALID_ARGUMENT',
      `chunkOverlap must be an integer ≥ 0 and less than chunkSize (got ${String(chunkOverlap)} with chunkSize ${chunkSize})`,
    );
  }
}

function segmentsOf(tokenizer: Tokenizer, text: string): TokenSegments {
  if (tokenizer.segments) return tokenizer.segments(text);
  // A tokenizer from outside pgembed: one token per boundary; `count` below still enforces the budget.
  const ends = tokenizer.boundaries(text);
  return { ends, tokens: ends.map(() => 1), clusterEnd: ends.map(() => true) };
}

const NON_WHITESPACE = /\S/;

/**
 * Splits `source` into windows of at most `chunkSize` tokens with `chunkOverlap` tokens of overlap.
 *
 * Cuts fall on grapheme-cluster boundaries, so an emoji sequence or a letter with its accents is never
 * torn apart — unless one cluster alone costs more than `chunkSize` tokens, in which case it is cut
 * between code points. A single code point costing more than `chunkSize` tokens (byte-level BPE spends
 * up to 4 tokens on one emoji or rare ideograph) cannot be cut at all and raises INVALID_ARGUMENT;
 * budgets of 8 or more never meet it in practice. Windows of only whitespace are dropped; `index` counts emitted chunks.
 */
export const tokenChunker: Chunker = (source, options) => {
  validateChunkOptions(options);
  const { chunkSize, chunkOverlap, tokenizer } = options;
  if (!NON_WHITESPACE.test(source)) return [];

  const { ends, tokens, clusterEnd } = segmentsOf(tokenizer, source);
  const n = ends.length;
  // Segments cost what `count` counts (the Tokenizer contract; tested for pgembed's own).
  const wholeTextCounted = tokenizer.segments !== undefined && ends[n - 1] === source.length;
  const prefix = new Float64Array(n + 1); // prefix[k] = tokens in segments [0, k)
  for (let k = 0; k < n; k++) prefix[k + 1] = prefix[k]! + tokens[k]!;
  const startOf = (k: number) => (k === 0 ? 0 : ends[k - 1]!);
  /** A chunk may end after segment k when that is a cluster boundary (or the end of the text). */
  const clean = (k: number) => k === n - 1 || clusterEnd[k]!;

  /** Last segment of the longest run from `first` that fits the budget (first - 1 if none does). */
  const lastFitting = (first: number) => {
    let lo = first;
    let hi = n - 1;
    let last = first - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (prefix[mid + 1]! - prefix[first]! <= chunkSize) {
        last = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return last;
  };

  const chunks: Chunk[] = [];
  let first = 0; // first segment of the current window
  let previousLast = -1; // last segment of the previous window
  for (;;) {
    options.deadline?.check();
    // Every window must end beyond the previous one. When the overlap leaves no room for that on a
    // cluster boundary, the overlap gives way (never the cluster, never the budget).
    const minLast = previousLast + 1;
    let last = lastFitting(first);
    let content = '';
    let count = 0;
    for (;;) {
      let cut = last;
      while (cut >= minLast && !clean(cut)) cut -= 1;
      if (cut < minLast && first < minLast) {
        first = minLast;
        last = lastFitting(first);
        continue;
      }
      // No cluster boundary fits: this cluster alone exceeds the budget, so cut between code points.
      if (cut < minLast) cut = last;
      if (cut < minLast) throw tooSmall(source, startOf(first), tokens[first]!, chunkSize);
      content = source.slice(startOf(first), ends[cut]);
      // Re-tokenizing a slice can cost more than its share of the whole text (BPE merges differ at the
      // edges), and the chunk's own count is what the provider will see: shrink until it fits. A
      // window that is the whole text is that tokenization itself (half the cost of a short document).
      count = wholeTextCounted && first === 0 && cut === n - 1 ? prefix[n]! : tokenizer.count(content);
      if (count <= chunkSize) {
        last = cut;
        break;
      }
      last = cut - 1;
      if (last < minLast) {
        if (first < minLast) {
          first = minLast;
          last = lastFitting(first);
          continue;
        }
        throw tooSmall(source, startOf(first), count, chunkSize);
      }
    }
    if (NON_WHITESPACE.test(content)) {
      chunks.push({
        content,
        index: chunks.length,
        startChar: startOf(first),
        endChar: ends[last]!,
        tokenCount: count,
      });
    }
    if (last >= n - 1) return chunks;
    previousLast = last;
    // Next window starts as early as the overlap allows, on a cluster boundary, and always moves forward.
    let next = last + 1;
    if (chunkOverlap > 0) {
      let a = first + 1;
      let b = last + 1;
      const floor = prefix[last + 1]! - chunkOverlap;
      while (a < b) {
        const mid = (a + b) >>> 1;
        if (prefix[mid]! >= floor) b = mid;
        else a = mid + 1;
      }
      next = a;
      while (next <= last && !clean(next - 1)) next += 1;
    }
    first = next;
  }
};

function tooSmall(source: string, at: number, cost: number, chunkSize: number): PgembedError {
  const cp = source.codePointAt(at) ?? 0;
  const name = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  return new PgembedError(
    'INVALID_ARGUMENT',
    `chunkSize ${chunkSize} is smaller than the ${cost} tokens of the text at offset ${at} (starting with ${name}), ` +
      'which cannot be cut without splitting a character; use a larger chunkSize',
  );
}
