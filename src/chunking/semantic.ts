/**
 * The `semantic` strategy: natural boundaries kept whole where the budget allows. Sentences are the
 * units; a chunk is filled up to the budget, then ends at the strongest boundary in its second half
 * (a paragraph break beats a line break beats a sentence end), so paragraphs stay together and a chunk
 * ends mid-paragraph only when the paragraph alone is larger than half a chunk.
 */
import { pack } from './pack.js';
import { titleSection } from './recursive.js';
import { sentenceSpans } from './sentence.js';
import { validateChunkOptions } from './token.js';
import type { Chunker } from './types.js';

export const semanticChunker: Chunker = (source, options) => {
  validateChunkOptions(options);
  return pack(source, sentenceSpans(source, options), options, {
    balance: true,
    sections: [titleSection()],
    headingPaths: false,
  });
};
