/** What every chunking strategy promises, checked on one result (shared by the property tests). */
import { expect } from 'vitest';
import { embeddingText } from '../../src/chunking/index.js';
import type { Chunk, Tokenizer } from '../../src/chunking/types.js';

/** Exact offsets, exact counts within budget (context included), bounded overlap, full coverage. */
export function checkChunks(
  source: string,
  chunks: Chunk[],
  tokenizer: Tokenizer,
  size: number,
  overlap: number,
) {
  let covered = 0;
  chunks.forEach((c, index) => {
    expect(c.index).toBe(index);
    expect(source.slice(c.startChar, c.endChar)).toBe(c.content);
    expect(c.content.trim().length).toBeGreaterThan(0);
    expect(c.tokenCount).toBe(tokenizer.count(c.content));
    expect(c.tokenCount).toBeLessThanOrEqual(size);
    // The budget holds for what the embedder reads, context included.
    expect(tokenizer.count(embeddingText(c))).toBeLessThanOrEqual(size);
    if (index > 0) {
      const previous = chunks[index - 1]!;
      expect(c.startChar).toBeGreaterThan(previous.startChar);
      expect(c.endChar).toBeGreaterThan(previous.endChar);
      if (c.startChar < previous.endChar) {
        expect(overlap).toBeGreaterThan(0);
        expect(tokenizer.count(source.slice(c.startChar, previous.endChar))).toBeLessThanOrEqual(overlap);
      }
    }
    if (c.startChar > covered) expect(source.slice(covered, c.startChar).trim()).toBe('');
    covered = Math.max(covered, c.endChar);
  });
  expect(source.slice(covered).trim()).toBe('');
}
