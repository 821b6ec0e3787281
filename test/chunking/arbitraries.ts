/** Text generators shared by the chunking property tests. */
import fc from 'fast-check';

/** Pieces that have broken tokenizers and chunkers before: multi-unit clusters, scripts, specials. */
export const TRICKY = [
  '😀',
  '👨‍👩‍👧',
  '🇫🇷🇩🇪🇯',
  '👍🏽',
  '🏳️‍🌈',
  '日本語のテキスト',
  '中文内容',
  '𠀋𡈽',
  '한국어',
  '\u1100\u1161\u11a8',
  'مرحبا بالعالم',
  'שָׁלוֹם',
  'e\u0301\u0302',
  'क्षि',
  'Z\u0351\u0352\u0353\u0354',
  'ΣΊΣΥΦΟΣ ΟΔΟΣ',
  '\r\n',
  '<|endoftext|>',
  '<|fim_prefix|>',
  '<|im_start|>',
  '[CLS]',
  '[SEP]',
  '[MASK]',
  '   ',
  '\t',
  '\u00a0',
  '\u200b',
  '\ufeff',
  'İstanbul',
  'Straße',
  'ﬁne',
  '\u0600\u0661',
  '\ud800',
  '\udc00x',
  '```ts\nconst x = 1;\n```',
  '| a | b |\n|---|---|',
  'hello world. ',
  'The quick brown fox ',
];

/** Arbitrary Unicode text: tricky pieces mixed with random graphemes and random code points. */
export const unicodeText = (maxPieces = 40) =>
  fc
    .array(
      fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(...TRICKY) },
        { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }) },
        { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }) },
        { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', maxLength: 20 }) },
      ),
      { maxLength: maxPieces },
    )
    .map((pieces) => pieces.join(''));

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** Grapheme boundaries by ICU over the whole (short) string: the oracle for the fast path. */
export function graphemeBreaks(text: string): Set<number> {
  const breaks = new Set<number>([text.length]);
  for (const { index } of graphemes.segment(text)) breaks.add(index);
  return breaks;
}

export function insideSurrogatePair(text: string, i: number): boolean {
  const hi = text.charCodeAt(i - 1);
  const lo = text.charCodeAt(i);
  return hi >= 0xd800 && hi <= 0xdbff && lo >= 0xdc00 && lo <= 0xdfff;
}
