import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { chunk } from '../../src/chunking/index.js';

// A real Markdown document from disk: node-postgres' README (pg is pinned in package.json, so the text
// — and these numbers — only change when the dependency is bumped on purpose).
const readme = readFileSync(new URL('../../node_modules/pg/README.md', import.meta.url), 'utf8');

describe('golden: node-postgres README', () => {
  it('chunks with cl100k_base into a stable layout', () => {
    const chunks = chunk(readme, { chunkSize: 128, chunkOverlap: 16 });
    expect({ length: readme.length, chunks: chunks.length }).toMatchInlineSnapshot(`
      {
        "chunks": 9,
        "length": 4450,
      }
    `);
    expect(
      chunks.slice(0, 2).map(({ startChar, endChar, tokenCount }) => ({ startChar, endChar, tokenCount })),
    ).toMatchInlineSnapshot(`
        [
          {
            "endChar": 442,
            "startChar": 0,
            "tokenCount": 128,
          },
          {
            "endChar": 889,
            "startChar": 382,
            "tokenCount": 128,
          },
        ]
      `);
    expect(chunks[0]!.content.startsWith('# node-postgres')).toBe(true);
  });

  it('chunks with WordPiece into a stable layout', () => {
    const chunks = chunk(readme, { tokenizer: 'wordpiece', chunkSize: 128, chunkOverlap: 16 });
    expect({ chunks: chunks.length }).toMatchInlineSnapshot(`
      {
        "chunks": 12,
      }
    `);
    expect(
      chunks.slice(0, 2).map(({ startChar, endChar, tokenCount }) => ({ startChar, endChar, tokenCount })),
    ).toMatchInlineSnapshot(`
        [
          {
            "endChar": 289,
            "startChar": 0,
            "tokenCount": 128,
          },
          {
            "endChar": 514,
            "startChar": 260,
            "tokenCount": 128,
          },
        ]
      `);
  });
});

/** The layout of a chunking as compact lines: index, offsets, tokens, heading path. */
function layout(chunks: ReturnType<typeof chunk>) {
  return chunks.map(
    (c) =>
      `${c.index} ${c.startChar}-${c.endChar} ${c.tokenCount}t${c.headingPath ? ` [${c.headingPath.join(' > ')}]` : ''}`,
  );
}

describe.each(['markdown', 'recursive', 'semantic', 'sentence'] as const)(
  'golden: node-postgres README, %s',
  (strategy) => {
    it('chunks into a stable layout (cl100k_base, 128/16)', () => {
      const chunks = chunk(readme, { strategy, chunkSize: 128, chunkOverlap: 16 });
      for (const c of chunks) expect(readme.slice(c.startChar, c.endChar)).toBe(c.content);
      expect(layout(chunks)).toMatchSnapshot();
      expect(chunks.map((c) => c.context ?? null)).toMatchSnapshot();
    });
  },
);
