import fc from 'fast-check';
import cl100kRanks from 'gpt-tokenizer/bpeRanks/cl100k_base';
import o200kRanks from 'gpt-tokenizer/bpeRanks/o200k_base';
import cl100k from 'gpt-tokenizer/encoding/cl100k_base';
import o200k from 'gpt-tokenizer/encoding/o200k_base';
import { CL100K_TOKEN_SPLIT_REGEX, O200K_TOKEN_SPLIT_REGEX } from 'gpt-tokenizer/encodingParams/constants';
import { describe, expect, it } from 'vitest';
import { linearBpe, mayHaveLongPreToken, type RankTable } from '../../src/chunking/bpe.js';
import { LONGEST_TOKEN_BYTES, tiktokenTokenizer } from '../../src/chunking/tokenizers.js';
import { unicodeText } from './arbitraries.js';

const SPECIALS_AS_TEXT = { disallowedSpecial: new Set<string>() };

/** Text from pieces that make long pre-tokens: runs of letters, punctuation, blanks, marks. */
const runs = fc
  .array(
    fc.tuple(
      fc.constantFrom(
        'x',
        'ab',
        ' ',
        '\t',
        '\n',
        '\r\n',
        '-',
        '!/',
        '.',
        'é',
        '日本',
        '\u0301',
        '👨‍👩‍👧',
        '1',
        "'s",
        'A',
      ),
      fc.integer({ min: 1, max: 300 }),
    ),
    { maxLength: 6 },
  )
  .map((parts) => parts.map(([unit, times]) => unit.repeat(times)).join(''));

const ENCODINGS = [
  ['cl100k_base', cl100k, cl100kRanks, CL100K_TOKEN_SPLIT_REGEX],
  ['o200k_base', o200k, o200kRanks, O200K_TOKEN_SPLIT_REGEX],
] as const;

describe.each(ENCODINGS)('linear byte-pair encoding, %s', (_name, api, ranks, split) => {
  const linear = linearBpe(ranks as RankTable, split);

  it('gives the tokens gpt-tokenizer gives, on arbitrary Unicode and on long runs', () => {
    fc.assert(
      fc.property(fc.oneof(unicodeText(), runs), (text) => {
        expect(linear.encode(text)).toEqual(api.encode(text, SPECIALS_AS_TEXT));
      }),
      { numRuns: 400 },
    );
  });

  it('does work linear in the length of a pre-token (gpt-tokenizer: quadratic)', () => {
    const lookups = (text: string) => {
      const before = linear.lookups;
      linear.encode(text);
      return linear.lookups - before;
    };
    for (const unit of ['x', ' ', '-', 'é']) {
      const small = lookups(unit.repeat(20_000));
      const large = lookups(unit.repeat(80_000));
      expect(large / small).toBeLessThan(4.5);
    }
  });

  it('knows the length of the longest token', () => {
    let longest = 0;
    (ranks as RankTable).forEach((value) => {
      if (value !== undefined)
        longest = Math.max(longest, typeof value === 'string' ? Buffer.byteLength(value) : value.length);
    });
    expect(longest).toBe(LONGEST_TOKEN_BYTES);
  });
});

describe('mayHaveLongPreToken', () => {
  it('says yes whenever some pre-token is longer than the limit plus its leading character and suffix', () => {
    fc.assert(
      fc.property(fc.oneof(unicodeText(), runs), fc.integer({ min: 1, max: 64 }), (text, limit) => {
        for (const split of [CL100K_TOKEN_SPLIT_REGEX, O200K_TOKEN_SPLIT_REGEX]) {
          const longest = Math.max(0, ...[...text.matchAll(split)].map((m) => m[0].length));
          if (longest > limit + 4) expect(mayHaveLongPreToken(text, limit)).toBe(true);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('says no on ordinary prose, so it stays on gpt-tokenizer', () => {
    const prose = 'The worker claims a batch of jobs, chunks each document and embeds the chunks.\n\n'.repeat(
      50,
    );
    expect(mayHaveLongPreToken(prose, 128)).toBe(false);
  });
});

describe('tiktoken tokenizers on text without separators', () => {
  it.each(['cl100k_base', 'o200k_base'] as const)(
    '%s counts and segments 200,000 letters, blanks and dashes (35 s for the letters before)',
    (encoding) => {
      const tokenizer = tiktokenTokenizer(encoding);
      for (const unit of ['x', ' ', '-']) {
        const text = unit.repeat(200_000);
        const { ends, tokens } = tokenizer.segments!(text);
        expect(ends.at(-1)).toBe(text.length);
        expect(tokens.reduce((a, b) => a + b, 0)).toBe(tokenizer.count(text));
      }
    },
    30_000,
  );
});
