import { describe, expect, it } from 'vitest';
import { SHAPES } from '../../bench/chunking/shapes.js';
import { chunk, chunkHierarchical, STRATEGY_NAMES, tiktokenTokenizer } from '../../src/chunking/index.js';
import type { Tokenizer } from '../../src/chunking/types.js';
import { checkChunks } from './checks.js';

/**
 * Scaling without a clock: the work a strategy does is the text it hands the tokenizer (every other
 * step is cheaper per character), so it is counted, in UTF-16 units per unit of source, on each
 * pathological shape at 16,000 and at 64,000 units. Linear strategies spend the same per unit at
 * both sizes; recounting a chunk one span shorter at a time grew 2.5-fold per 4× here on indented lines
 * (24 units per unit at 100,000, 59 at 400,000; now 7 and 9).
 */
function counting(inner: Tokenizer): { tokenizer: Tokenizer; units: () => number } {
  let units = 0;
  const tokenizer: Tokenizer = {
    name: inner.name,
    ...(inner.maxInputTokens === undefined ? {} : { maxInputTokens: inner.maxInputTokens }),
    ...(inner.longestToken === undefined ? {} : { longestToken: inner.longestToken }),
    count: (text) => {
      units += text.length;
      return inner.count(text);
    },
    boundaries: (text) => {
      units += text.length;
      return inner.boundaries(text);
    },
    segments: (text) => {
      units += text.length;
      return inner.segments!(text);
    },
  };
  return { tokenizer, units: () => units };
}

const cl100k = tiktokenTokenizer('cl100k_base');
const STRATEGIES = [...STRATEGY_NAMES, 'hierarchical'] as const;

function workPerUnit(strategy: (typeof STRATEGIES)[number], text: string): number {
  const { tokenizer, units } = counting(cl100k);
  if (strategy === 'hierarchical') chunkHierarchical(text, { tokenizer });
  else chunk(text, { strategy, tokenizer });
  return units() / text.length;
}

describe.each(SHAPES.map((shape) => [shape.name, shape] as const))('on %s', (_name, shape) => {
  it.each(STRATEGIES)(
    '%s does the same tokenizer work per character at 4× the size',
    (strategy) => {
      // Lines of 1,000 blanks only reach their steady state past one chunk of 51,200 units (past one
      // 2,000-token section of 256,000 for hierarchical: that one is left to bench/chunking).
      if (shape.name === 'indented lines' && strategy === 'hierarchical') return;
      const size = shape.name === 'indented lines' ? 100_000 : 16_000;
      const small = workPerUnit(strategy, shape.make(size));
      const large = workPerUnit(strategy, shape.make(4 * size));
      // The constant covers shapes that fit one chunk at the small size (one count of the text).
      expect(large).toBeLessThanOrEqual(small * 1.5 + 2.5);
    },
    60_000,
  );

  it('every strategy keeps its promises on it', () => {
    const text = shape.make(20_000);
    for (const strategy of STRATEGY_NAMES) {
      checkChunks(text, chunk(text, { strategy, chunkSize: 100, chunkOverlap: 10 }), cl100k, 100, 10);
    }
  }, 60_000);
});

describe('markdown lines that made its regexes backtrack quadratically', () => {
  // 82 s for 160,000 blanks before; a linear scan takes a few hundred milliseconds even on a loaded
  // machine, so the generous timeout only fails when the backtracking is back.
  it.each([
    ['a heading whose blanks do not end the line', `# a${' '.repeat(200_000)}#x\n\ntext`],
    ['a table delimiter row with blanks', `a|b\n|-${' '.repeat(200_000)}x\n`],
    ['a front matter title with blanks', `---\ntitle: a${' '.repeat(200_000)}b\n---\n\nbody`],
  ])(
    '%s',
    (_name, text) => {
      const chunks = chunk(text, { strategy: 'markdown' });
      checkChunks(text, chunks, cl100k, 400, 50);
    },
    30_000,
  );

  it('still reads titles and closing hashes as before', () => {
    const [first] = chunk('---\ntitle:   My Title  \n---\n\n# Guide ##  \n\ntext', { strategy: 'markdown' });
    expect(first!.context).toBe('My Title');
    const chunks = chunk('# Guide ##  \n\ntext\n\n## a # b\n\nmore', {
      strategy: 'markdown',
      chunkSize: 8,
      chunkOverlap: 0,
    });
    expect(chunks.map((c) => c.headingPath)).toEqual([['Guide'], ['Guide', 'a # b']]);
  });
});
