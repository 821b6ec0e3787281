import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  chunk,
  chunkHierarchical,
  embeddingText,
  getChunker,
  STRATEGY_NAMES,
  scanBlocks,
  tiktokenTokenizer,
  wordPieceTokenizer,
} from '../../src/chunking/index.js';
import type { Tokenizer } from '../../src/chunking/types.js';
import { markdownDocument, proseText, unicodeText } from './arbitraries.js';
import { checkChunks } from './checks.js';

const cl100k = tiktokenTokenizer('cl100k_base');
const TOKENIZERS: [string, Tokenizer][] = [
  ['cl100k_base', cl100k],
  ['wordpiece', wordPieceTokenizer()],
];
const BOUNDARY_STRATEGIES = ['recursive', 'sentence', 'semantic', 'markdown'] as const;

const sizes = fc
  .integer({ min: 16, max: 160 })
  .chain((size) => fc.tuple(fc.constant(size), fc.integer({ min: 0, max: Math.floor(size / 3) })));

describe.each(TOKENIZERS)('boundary strategies with %s', (_name, tokenizer) => {
  describe.each(BOUNDARY_STRATEGIES)('%s', (strategy) => {
    const chunker = getChunker(strategy);
    it('on generated Markdown: exact offsets, within budget, bounded overlap, full coverage, deterministic', () => {
      fc.assert(
        fc.property(markdownDocument(), sizes, (source, [size, overlap]) => {
          const chunks = chunker(source, { chunkSize: size, chunkOverlap: overlap, tokenizer });
          checkChunks(source, chunks, tokenizer, size, overlap);
          expect(chunker(source, { chunkSize: size, chunkOverlap: overlap, tokenizer })).toEqual(chunks);
        }),
        { numRuns: tokenizer === cl100k ? Number(process.env.RUNS ?? 120) : 40 },
      );
    });

    it('on generated prose and arbitrary Unicode', () => {
      fc.assert(
        fc.property(fc.oneof(proseText(), unicodeText(40)), sizes, (source, [size, overlap]) => {
          const chunks = chunker(source, { chunkSize: size, chunkOverlap: overlap, tokenizer });
          checkChunks(source, chunks, tokenizer, size, overlap);
        }),
        { numRuns: tokenizer === cl100k ? Number(process.env.RUNS ?? 120) : 40 },
      );
    });
  });
});

describe('markdown structure', () => {
  it('never splits a fenced code block that fits the budget, and reports heading paths', () => {
    fc.assert(
      fc.property(markdownDocument(), sizes, (source, [size, overlap]) => {
        const chunks = getChunker('markdown')(source, {
          chunkSize: size,
          chunkOverlap: overlap,
          tokenizer: cl100k,
        });
        const blocks = scanBlocks(source);
        for (const block of blocks) {
          if (block.kind !== 'code' || !block.opener) continue;
          if (cl100k.count(source.slice(block.start, block.end)) > size) continue;
          const end = block.start + source.slice(block.start, block.end).trimEnd().length;
          const whole = chunks.some((c) => c.startChar <= block.start && c.endChar >= end);
          expect(whole, `code block at ${block.start} split`).toBe(true);
        }
        for (const c of chunks) expect(Array.isArray(c.headingPath)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  const doc = [
    '---',
    'title: "Guide"',
    '---',
    '',
    '# Install',
    '',
    'Run the installer.',
    '',
    '## From source',
    '',
    '```sh',
    'make && make install',
    '```',
    '',
    'Setext heading',
    '--------------',
    '',
    '| a | b |',
    '|---|---|',
    '| 1 | 2 |',
    '',
  ].join('\n');

  it('keeps the heading hierarchy and puts it in the context', () => {
    const chunks = chunk(doc, { strategy: 'markdown', chunkSize: 64, chunkOverlap: 0 });
    expect(chunks.map((c) => [c.headingPath, c.context, c.content])).toEqual([
      [[], 'Guide', '---\ntitle: "Guide"\n---'],
      [['Install'], 'Guide\n# Install', '# Install\n\nRun the installer.'],
      [
        ['Install', 'From source'],
        'Guide\n# Install > ## From source',
        '## From source\n\n```sh\nmake && make install\n```',
      ],
      [
        ['Install', 'Setext heading'],
        'Guide\n# Install > ## Setext heading',
        'Setext heading\n--------------\n\n| a | b |\n|---|---|\n| 1 | 2 |',
      ],
    ]);
  });

  it('context can be turned off and the separator changed', () => {
    expect(
      chunk(doc, { strategy: 'markdown', chunkSize: 64, chunkOverlap: 0, context: false }).some(
        (c) => c.context,
      ),
    ).toBe(false);
    const custom = chunk(doc, {
      strategy: 'markdown',
      chunkSize: 64,
      chunkOverlap: 0,
      headingSeparator: ' / ',
      title: 'T',
    });
    expect(custom[2]!.context).toBe('T\n# Install / ## From source');
  });

  it('splits an oversized code block at lines, repeating the fence in each piece’s context', () => {
    const code = [
      '```python',
      ...Array.from({ length: 60 }, (_, i) => `print("line number ${i}")`),
      '```',
    ].join('\n');
    const chunks = chunk(`# Code\n\n${code}\n`, { strategy: 'markdown', chunkSize: 80, chunkOverlap: 0 });
    expect(chunks.length).toBeGreaterThan(3);
    for (const c of chunks.slice(1)) {
      expect(c.context).toBe('# Code\n```python');
      expect(c.content.startsWith('print(')).toBe(true);
      expect(c.tokenCount).toBeLessThanOrEqual(80);
    }
  });

  it('splits an oversized table at rows, repeating the header rows', () => {
    const table = [
      '| name | value |',
      '|---|---|',
      ...Array.from({ length: 80 }, (_, i) => `| row ${i} | ${i * 7} |`),
    ].join('\n');
    const chunks = chunk(table, { strategy: 'markdown', chunkSize: 60, chunkOverlap: 0 });
    expect(chunks[0]!.content.startsWith('| name | value |\n|---|---|')).toBe(true);
    for (const c of chunks.slice(1)) expect(c.context).toBe('| name | value |\n|---|---|');
  });
});

describe('sentence strategy', () => {
  it('keeps abbreviations and decimals inside sentences, and overlaps in whole sentences', () => {
    const text =
      'Dr. Smith paid $3.50 for it, e.g. a coffee. Then he left! Mr. Jones came in at 5 p.m. and sat down. ' +
      'See Fig. 2 for details. The end is near. ';
    const chunks = chunk(text.repeat(3), { strategy: 'sentence', chunkSize: 24, chunkOverlap: 12 });
    const sentenceStarts = /^(Dr\.|Then|Mr\.|See|The end)/;
    for (const c of chunks) expect(c.content).toMatch(sentenceStarts);
    expect(chunks.some((c, k) => k > 0 && c.startChar < chunks[k - 1]!.endChar)).toBe(true);
  });

  it('handles a locale', () => {
    const chunks = chunk('Das ist z.B. ein Satz. Noch einer hier. Und ein dritter Satz.', {
      strategy: 'sentence',
      chunkSize: 12,
      chunkOverlap: 0,
      locale: 'de',
    });
    expect(chunks[0]!.content).toBe('Das ist z.B. ein Satz.');
  });
});

describe('semantic strategy', () => {
  it('ends chunks at paragraph breaks when the budget allows', () => {
    const paragraph = (n: number) =>
      Array.from({ length: 3 }, (_, i) => `Paragraph ${n} sentence ${i} says something useful.`).join(' ');
    const source = Array.from({ length: 8 }, (_, n) => paragraph(n)).join('\n\n');
    const chunks = chunk(source, { strategy: 'semantic', chunkSize: 70, chunkOverlap: 0 });
    for (const c of chunks) {
      expect(c.content.startsWith('Paragraph')).toBe(true);
      expect(c.content.endsWith('useful.')).toBe(true);
      expect(source.slice(c.endChar, c.endChar + 2) === '\n\n' || c.endChar === source.length).toBe(true);
    }
  });
});

describe('special tokens are text', () => {
  it.each(STRATEGY_NAMES)('%s chunks <|endoftext|> as ordinary text', (strategy) => {
    const source = 'Before <|endoftext|> after. '.repeat(50);
    const chunks = chunk(source, { strategy, chunkSize: 40, chunkOverlap: 5 });
    expect(chunks.length).toBeGreaterThan(1);
    checkChunks(source, chunks, cl100k, 40, 5);
  });
});

describe('budgets that fit the model', () => {
  it('defaults chunkSize to the tokenizer limit when it is below 400, and refuses more', () => {
    const source = 'word '.repeat(2000);
    const chunks = chunk(source, { tokenizer: 'wordpiece' });
    expect(Math.max(...chunks.map((c) => c.tokenCount))).toBe(254);
    expect(() => chunk(source, { tokenizer: 'wordpiece', chunkSize: 300 })).toThrow(
      /chunkSize 300 exceeds the 254 tokens all-MiniLM-L6-v2 WordPiece models read/,
    );
    expect(() => chunk(source, { chunkSize: 9000 })).toThrow(/exceeds the 8192 tokens cl100k_base/);
  });
});

describe('hierarchical', () => {
  it('links every chunk to the section it lies in, and carries the section path as context', () => {
    fc.assert(
      fc.property(markdownDocument(), fc.integer({ min: 20, max: 80 }), (source, size) => {
        const { sections, chunks } = chunkHierarchical(source, {
          levels: [
            { strategy: 'markdown', chunkSize: size * 3, chunkOverlap: 0 },
            { strategy: 'semantic', chunkSize: size, chunkOverlap: Math.floor(size / 5) },
          ],
        });
        checkChunks(source, sections, cl100k, size * 3, 0);
        chunks.forEach((c, k) => {
          expect(c.index).toBe(k);
          expect(source.slice(c.startChar, c.endChar)).toBe(c.content);
          expect(cl100k.count(embeddingText(c))).toBeLessThanOrEqual(size);
          const parent = sections[c.parentIndex!]!;
          expect(c.startChar).toBeGreaterThanOrEqual(parent.startChar);
          expect(c.endChar).toBeLessThanOrEqual(parent.endChar);
          expect(c.headingPath).toEqual(parent.headingPath);
        });
      }),
      { numRuns: 80 },
    );
  });

  it('defaults to markdown sections and semantic chunks', () => {
    const doc = `# Guide\n\n## Install\n\n${'Run the installer and wait. '.repeat(80)}\n\n## Use\n\nCall it.`;
    const { sections, chunks } = chunkHierarchical(doc);
    expect(sections.map((s) => s.headingPath)).toEqual([
      ['Guide', 'Install'],
      ['Guide', 'Use'],
    ]);
    expect(chunks.length).toBeGreaterThan(2);
    expect(chunks[0]!.context).toBe('# Guide > ## Install');
    expect(chunks.at(-1)!.parentIndex).toBe(1);
  });
});
