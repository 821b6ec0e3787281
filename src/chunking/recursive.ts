/**
 * The `recursive` strategy: paragraphs packed greedily up to the budget; a paragraph too large for one
 * chunk is split at lines, then sentences, then words, then tokens — the separators LangChain's
 * RecursiveCharacterTextSplitter uses, but measured in the model's tokens and with exact offsets.
 */
import { byParagraph, LEVEL, pack, proseChain, type Span } from './pack.js';
import { validateChunkOptions } from './token.js';
import type { Chunker } from './types.js';

export const recursiveChunker: Chunker = (source, options) => {
  validateChunkOptions(options);
  const chain = proseChain(options.locale).slice(1);
  const spans: Span[] = byParagraph(source, 0, source.length).map((p, k) => ({
    ...p,
    tokens: options.tokenizer.count(source.slice(p.start, p.end)),
    level: k === 0 ? LEVEL.section : LEVEL.paragraph,
    section: 0,
    refine: chain,
  }));
  return pack(source, spans, options, { balance: false, sections: [titleSection()], headingPaths: false });
};

/** The one section of a strategy without headings. */
export function titleSection() {
  return { path: [], marked: [] };
}
