import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunk, getChunker, tiktokenTokenizer, wordPieceTokenizer } from '../../src/chunking/index.js';
import { tokenChunker } from '../../src/chunking/token.js';
import type { Chunk, Tokenizer } from '../../src/chunking/types.js';
import { isPgembedError } from '../../src/errors.js';
import { graphemeBreaks, insideSurrogatePair, TRICKY, unicodeText } from './arbitraries.js';

const TOKENIZERS: [string, Tokenizer][] = [
  ['cl100k_base', tiktokenTokenizer('cl100k_base')],
  ['o200k_base', tiktokenTokenizer('o200k_base')],
  ['wordpiece', wordPieceTokenizer()],
];

/** Every invariant the token strategy promises, checked on one result. */
function checkInvariants(
  source: string,
  chunks: Chunk[],
  tokenizer: Tokenizer,
  size: number,
  overlap: number,
) {
  const segments = tokenizer.segments!(source);
  const prefix = [0];
  for (const t of segments.tokens) prefix.push(prefix.at(-1)! + t);
  /** Tokens of the segments lying within [start, end) (both are segment boundaries here). */
  const tokensIn = (start: number, end: number) => {
    const at = (offset: number) => (offset === 0 ? 0 : segments.ends.indexOf(offset) + 1);
    return prefix[at(end)]! - prefix[at(start)]!;
  };
  let coveredTo = 0;
  chunks.forEach((c, index) => {
    expect(c.index).toBe(index);
    expect(source.slice(c.startChar, c.endChar)).toBe(c.content);
    expect(c.tokenCount).toBe(tokenizer.count(c.content));
    expect(c.tokenCount).toBeLessThanOrEqual(size);
    expect(c.content.trim().length).toBeGreaterThan(0);
    expect(insideSurrogatePair(source, c.startChar)).toBe(false);
    expect(insideSurrogatePair(source, c.endChar)).toBe(false);
    if (index > 0) {
      const previous = chunks[index - 1]!;
      expect(c.startChar).toBeGreaterThan(previous.startChar);
      expect(c.endChar).toBeGreaterThan(previous.endChar);
      // Overlap (by the whole text's tokenization) is at most chunkOverlap, and 0 when it is 0.
      if (c.startChar < previous.endChar) {
        expect(overlap).toBeGreaterThan(0);
        expect(tokensIn(c.startChar, previous.endChar)).toBeLessThanOrEqual(overlap);
      }
    }
    // Anything skipped between chunks is whitespace only (whitespace-only windows are dropped).
    if (c.startChar > coveredTo) expect(source.slice(coveredTo, c.startChar).trim()).toBe('');
    coveredTo = Math.max(coveredTo, c.endChar);
  });
  expect(source.slice(coveredTo).trim()).toBe('');
}

describe.each(TOKENIZERS)('token strategy with %s', (_name, tokenizer) => {
  it('reconstructs offsets, stays within budget, covers the source in order with bounded overlap', () => {
    fc.assert(
      fc.property(
        unicodeText(60),
        fc.integer({ min: 8, max: 48 }),
        fc.integer({ min: 0, max: 100 }),
        (source, size, overlapPercent) => {
          const overlap = Math.floor(((size - 1) * overlapPercent) / 100);
          const chunks = tokenChunker(source, { chunkSize: size, chunkOverlap: overlap, tokenizer });
          checkInvariants(source, chunks, tokenizer, size, overlap);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('cuts only on grapheme boundaries, unless one cluster alone exceeds the budget', () => {
    const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
    fc.assert(
      fc.property(unicodeText(60), fc.integer({ min: 8, max: 32 }), (source, size) => {
        const breaks = graphemeBreaks(source);
        const oversized = (offset: number) => {
          const cluster = graphemes.segment(source).containing(offset);
          return cluster !== undefined && tokenizer.count(cluster.segment) > size;
        };
        for (const c of tokenChunker(source, { chunkSize: size, chunkOverlap: 2, tokenizer })) {
          for (const offset of [c.startChar, c.endChar]) {
            if (!breaks.has(offset)) expect([offset, oversized(offset)]).toEqual([offset, true]);
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it('without overlap, partitions the source', () => {
    fc.assert(
      fc.property(unicodeText(60), fc.integer({ min: 8, max: 32 }), (source, size) => {
        const chunks = tokenChunker(source, { chunkSize: size, chunkOverlap: 0, tokenizer });
        for (let k = 1; k < chunks.length; k++)
          expect(chunks[k]!.startChar).toBeGreaterThanOrEqual(chunks[k - 1]!.endChar);
      }),
      { numRuns: 100 },
    );
  });

  it('gives no chunks for empty or whitespace-only input', () => {
    for (const source of ['', ' ', '\n\n\t  \r\n', '\u00a0\u2003']) {
      expect(tokenChunker(source, { chunkSize: 10, chunkOverlap: 2, tokenizer })).toEqual([]);
    }
  });

  it('chunks a 1 MB document within budget', () => {
    const unit = `${TRICKY.join(' ')}\n\n## Section\n\nPostgreSQL tables become embedding corpora. `;
    const source = unit.repeat(Math.ceil(1_000_000 / unit.length)).slice(0, 1_000_000);
    const size = tokenizer === TOKENIZERS[2]![1] ? 254 : 400;
    const started = performance.now();
    const chunks = tokenChunker(source, { chunkSize: size, chunkOverlap: 50, tokenizer });
    const seconds = (performance.now() - started) / 1000;
    expect(chunks.length).toBeGreaterThan(100);
    checkInvariants(source, chunks, tokenizer, size, 50);
    // Linear, not quadratic: ~0.3–0.7 s on a laptop; a quadratic walk would take minutes.
    expect(seconds).toBeLessThan(20);
  });
});

describe('option validation', () => {
  const tokenizer = tiktokenTokenizer('cl100k_base');
  const message = (f: () => unknown) => {
    try {
      f();
    } catch (error) {
      expect(isPgembedError(error) && error.code).toBe('INVALID_ARGUMENT');
      return (error as Error).message;
    }
    throw new Error('expected a throw');
  };

  it.each([0, -1, 1.5, Number.NaN])('rejects chunkSize %s', (chunkSize) => {
    expect(message(() => tokenChunker('x', { chunkSize, chunkOverlap: 0, tokenizer }))).toMatch(
      /^chunkSize must be an integer ≥ 1/,
    );
  });

  it.each([
    [10, 10],
    [10, -1],
    [10, 2.5],
  ])('rejects chunkSize %s with chunkOverlap %s', (chunkSize, chunkOverlap) => {
    expect(message(() => tokenChunker('x', { chunkSize, chunkOverlap, tokenizer }))).toMatch(
      /^chunkOverlap must be an integer ≥ 0 and less than chunkSize/,
    );
  });

  it('chunkSize 1 works on text whose characters cost one token each', () => {
    const chunks = tokenChunker('hello world again', { chunkSize: 1, chunkOverlap: 0, tokenizer });
    expect(chunks.map((c) => c.content)).toEqual(['hello', ' world', ' again']);
  });

  it('refuses a budget smaller than one indivisible character', () => {
    // '𠀋' costs more than one cl100k token and cannot be cut without splitting the code point.
    expect(message(() => tokenChunker('a𠀋b', { chunkSize: 1, chunkOverlap: 0, tokenizer }))).toMatch(
      /chunkSize 1 is smaller than the \d+ tokens of the text at offset 1 \(starting with U\+2000B\)/,
    );
  });

  it('splits a grapheme cluster between code points only when it alone exceeds the budget', () => {
    const family = '👨‍👩‍👧‍👦';
    const total = tokenizer.count(family);
    const whole = tokenChunker(family, { chunkSize: total, chunkOverlap: 0, tokenizer });
    expect(whole.map((c) => c.content)).toEqual([family]);
    const cut = tokenChunker(family, { chunkSize: 4, chunkOverlap: 0, tokenizer });
    expect(cut.map((c) => c.content).join('')).toBe(family);
    for (const c of cut) expect(c.tokenCount).toBeLessThanOrEqual(4);
  });
});

describe('chunk()', () => {
  it('defaults to token / 400 / 50 / cl100k_base', () => {
    const source = 'PostgreSQL tables become embedding corpora. '.repeat(200);
    const viaDefaults = chunk(source);
    const explicit = tokenChunker(source, {
      chunkSize: 400,
      chunkOverlap: 50,
      tokenizer: tiktokenTokenizer('cl100k_base'),
    });
    expect(viaDefaults).toEqual(explicit);
    expect(Math.max(...viaDefaults.map((c) => c.tokenCount))).toBe(400);
  });

  it('accepts tokenizer names and Tokenizer objects', () => {
    const source = 'Hello, wörld! '.repeat(100);
    expect(chunk(source, { tokenizer: 'wordpiece', chunkSize: 64, chunkOverlap: 8 })).toEqual(
      chunk(source, { tokenizer: wordPieceTokenizer(), chunkSize: 64, chunkOverlap: 8 }),
    );
    expect(chunk(source, { tokenizer: 'o200k_base', chunkSize: 64, chunkOverlap: 8 }).length).toBeGreaterThan(
      1,
    );
  });

  it('works with a tokenizer that only has boundaries()', () => {
    const chars: Tokenizer = {
      name: 'chars',
      count: (text) => [...text].length,
      boundaries: (text) => {
        const ends: number[] = [];
        let i = 0;
        for (const ch of text) {
          i += ch.length;
          ends.push(i);
        }
        return ends;
      },
    };
    const chunks = chunk('abc😀def', { tokenizer: chars, chunkSize: 3, chunkOverlap: 1 });
    expect(chunks.map((c) => c.content)).toEqual(['abc', 'c😀d', 'def']);
  });
});

describe('getChunker', () => {
  it('returns registered strategies', () => {
    expect(getChunker('token')).toBe(tokenChunker);
  });

  it('lists the known strategies for an unknown name', () => {
    expect(() => getChunker('fixed')).toThrow(
      "Unknown chunking strategy 'fixed'; known strategies: token, sentence, semantic, markdown, recursive",
    );
    expect(() => getChunker('toString')).toThrow(/known strategies: token/);
  });
});
