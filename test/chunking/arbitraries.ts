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

const word = fc.constantFrom(
  'postgres',
  'vector',
  'index',
  'the',
  'chunk',
  'embedding',
  'query',
  'Dr.',
  'e.g.',
  '3.14',
  'naïve',
  'données',
  '日本語',
  '😀',
  '<|endoftext|>',
  'a',
  'is',
  'token',
);
const sentence = fc
  .array(word, { minLength: 1, maxLength: 14 })
  .chain((words) => fc.constantFrom('.', '!', '?', '').map((end) => `${words.join(' ')}${end}`));
const paragraph = fc.array(sentence, { minLength: 1, maxLength: 6 }).map((s) => s.join(' '));

/** Prose: paragraphs of sentences, separated by blank lines or single newlines. */
export const proseText = () =>
  fc
    .array(fc.tuple(paragraph, fc.constantFrom('\n\n', '\n', ' ', '\n\n\n')), { maxLength: 12 })
    .map((parts) => parts.map(([p, sep]) => p + sep).join(''));

const heading = fc
  .tuple(fc.integer({ min: 1, max: 4 }), fc.array(word, { minLength: 1, maxLength: 4 }))
  .map(([depth, words]) => `${'#'.repeat(depth)} ${words.join(' ')}`);
const codeBlock = fc
  .tuple(
    fc.constantFrom('```', '```ts', '~~~', '````sql'),
    fc.array(
      fc.oneof(
        fc.constant(''),
        fc.array(word, { maxLength: 8 }).map((w) => `  ${w.join(' ')}`),
      ),
      {
        maxLength: 30,
      },
    ),
  )
  .map(([fence, lines]) => [fence, ...lines, fence.replace(/[a-z]+$/, '')].join('\n'));
const table = fc
  .array(fc.tuple(word, word), { minLength: 1, maxLength: 20 })
  .map((rows) => ['| key | value |', '|---|:--:|', ...rows.map(([a, b]) => `| ${a} | ${b} |`)].join('\n'));
const list = fc
  .array(sentence, { minLength: 1, maxLength: 10 })
  .chain((items) =>
    fc.constantFrom('- ', '* ', '1. ').map((marker) => items.map((i) => marker + i).join('\n')),
  );
const block = fc.oneof(
  { weight: 3, arbitrary: paragraph },
  { weight: 2, arbitrary: heading },
  { weight: 2, arbitrary: codeBlock },
  { weight: 1, arbitrary: table },
  { weight: 1, arbitrary: list },
  { weight: 1, arbitrary: unicodeText(6) },
);

/** Markdown documents: headings, paragraphs, fenced code (with blank lines), tables, lists, front matter. */
export const markdownDocument = () =>
  fc
    .tuple(fc.boolean(), fc.array(block, { maxLength: 16 }))
    .map(([front, blocks]) => `${front ? '---\ntitle: Doc\n---\n\n' : ''}${blocks.join('\n\n')}\n`);
