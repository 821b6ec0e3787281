/**
 * The `sentence` strategy: whole sentences (ICU's locale-aware segmentation; abbreviations such as
 * "Dr." and decimals such as "3.50" do not end one) packed greedily up to the budget, with overlap in
 * whole sentences. A sentence longer than a chunk is split at words, then tokens.
 */
import { byParagraph, bySentence, byWord, LEVEL, pack, type Span } from './pack.js';
import { titleSection } from './recursive.js';
import { validateChunkOptions } from './token.js';
import type { Chunker, ChunkOptions } from './types.js';

/** Sentences of the source as spans, each knowing whether a paragraph or a line starts with it. */
export function sentenceSpans(source: string, options: ChunkOptions): Span[] {
  const sentences = bySentence(options.locale);
  const spans: Span[] = [];
  for (const paragraph of byParagraph(source, 0, source.length)) {
    options.deadline?.check();
    let previousEnd = paragraph.start;
    for (const s of sentences(source, paragraph.start, paragraph.end)) {
      const first = s.start === paragraph.start;
      spans.push({
        ...s,
        tokens: options.tokenizer.count(source.slice(s.start, s.end)),
        level: first
          ? LEVEL.paragraph
          : source.slice(previousEnd, s.start).includes('\n')
            ? LEVEL.line
            : LEVEL.sentence,
        section: 0,
        refine: [byWord],
      });
      previousEnd = s.end;
    }
  }
  return spans;
}

export const sentenceChunker: Chunker = (source, options) => {
  validateChunkOptions(options);
  return pack(source, sentenceSpans(source, options), options, {
    balance: false,
    sections: [titleSection()],
    headingPaths: false,
  });
};
