/**
 * Byte-pair encoding in O(n log n) for the texts where gpt-tokenizer's merge loop is quadratic.
 *
 * gpt-tokenizer (like tiktoken's reference `_byte_pair_merge`) finds the lowest-ranked pair by scanning
 * every pair of a pre-token after each merge: O(m²) for a pre-token of m bytes. Ordinary text has
 * short pre-tokens (words, runs of punctuation), but a pre-token is as long as a run of letters, of
 * punctuation or of whitespace, so text without separators (`'x'.repeat(200_000)`, a base64 blob, a
 * line of dashes) took 35 s for 200,000 characters. This module gives the same tokens — the same
 * pre-tokenizer regex, the same whole-piece shortcut, the same merge order (lowest rank first, the
 * leftmost on ties) — with a heap, and is used only for texts that may contain a long pre-token
 * (`mayHaveLongPreToken`); everything else stays on gpt-tokenizer's path. The property tests compare
 * both on random and pathological text.
 */

/** A rank table as gpt-tokenizer ships it: index = rank, value = the token's text or its bytes. */
export type RankTable = readonly (string | readonly number[] | undefined)[];

/** Tokens of a text; `lookups` counts rank-table lookups (the unit of work, for the scaling tests). */
export interface LinearBpe {
  encode(text: string): number[];
  /** Rank-table lookups made so far (never reset): linear in the bytes encoded. */
  readonly lookups: number;
}

/**
 * Character classes of ASCII for `mayHaveLongPreToken`: what a pre-token of cl100k_base or o200k_base
 * may continue with.
 */
const LETTER = 1;
const DIGIT = 2;
const SPACE = 3;
const BREAK = 4;
const MARK = 5;
const ASCII_CLASS = (() => {
  const table = new Uint8Array(128);
  for (let c = 0; c < 128; c++) {
    const ch = String.fromCharCode(c);
    table[c] = /[A-Za-z]/.test(ch)
      ? LETTER
      : /[0-9]/.test(ch)
        ? DIGIT
        : ch === '\r' || ch === '\n'
          ? BREAK
          : /\s/.test(ch)
            ? SPACE
            : MARK;
  }
  return table;
})();

/**
 * Whether `text` may hold a pre-token longer than about `limit` UTF-16 units, in one linear pass.
 * Conservative: it may say yes when there is none, never no when there is one. Every pre-token of
 * cl100k_base and o200k_base is at most one leading character and a short contraction suffix around
 * a run of letters (and marks), of punctuation (with trailing line breaks, and `/` for o200k), of
 * whitespace, or of at most 3 digits; non-ASCII characters are counted into every run.
 */
export function mayHaveLongPreToken(text: string, limit: number): boolean {
  let letters = 0;
  let marks = 0;
  let spaces = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const kind = c < 128 ? ASCII_CLASS[c]! : 0;
    switch (kind) {
      case LETTER:
        letters++;
        marks = 0;
        spaces = 0;
        break;
      case DIGIT:
        letters = 0;
        marks = 0;
        spaces = 0;
        break;
      case SPACE:
        spaces++;
        letters = 0;
        marks = 0;
        break;
      case BREAK:
        // Whitespace, and the tail of a run of punctuation (` ?[^\s\p{L}\p{N}]+[\r\n]*`).
        spaces++;
        marks++;
        letters = 0;
        break;
      case MARK:
        marks++;
        letters = 0;
        spaces = 0;
        break;
      default:
        letters++;
        marks++;
        spaces++;
    }
    if (letters > limit || marks > limit || spaces > limit) return true;
  }
  return false;
}

/** No character above U+007F (the class reads "anything but those"). */
const ASCII_ONLY = /^[^\u0080-\uffff]*$/;

/** The UTF-8 bytes of a string as a "binary" string (one char per byte), lone surrogates as U+FFFD. */
function binary(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** Bytes of `text` in UTF-8 (lone surrogates as the 3 bytes of U+FFFD, as `binary` encodes them). */
function utf8Length(text: string): number {
  let length = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) length += 1;
    else if (c < 0x800) length += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        length += 4;
        i++;
      } else length += 3;
    } else length += 3;
  }
  return length;
}

/** U+FEFF in UTF-8, as a binary string. */
const BOM = '\xef\xbb\xbf';

/**
 * Whether a run of bytes cut from well-formed UTF-8, starting on a character, also ends on one (so
 * it is valid UTF-8 by itself).
 */
function endsOnCharacter(bytes: string): boolean {
  let k = bytes.length - 1;
  let continuation = 0;
  while (k >= 0 && (bytes.charCodeAt(k) & 0xc0) === 0x80) {
    continuation++;
    k--;
  }
  if (k < 0) return false;
  const lead = bytes.charCodeAt(k);
  const length = lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
  return continuation === length - 1;
}

/** Memoized pieces up to this many bytes; longer ones are rare and cost O(m log m) anyway. */
const CACHE_PIECE_BYTES = 256;
const CACHE_LIMIT = 50_000;
/** A heap key packs (rank, position): ranks < 2^21, positions < 2^31, so the key is < 2^52. */
const POSITION_BITS = 2 ** 31;

/** A linear-time encoder equivalent to gpt-tokenizer's for the given rank table and pre-tokenizer. */
export function linearBpe(ranks: RankTable, splitRegex: RegExp): LinearBpe {
  // byBytes: every token by its UTF-8 bytes as a binary string; an ASCII token's key is its text, so
  // ASCII needs no second map. wideByText: the other tokens that are text, by their text (the
  // whole-piece shortcut gpt-tokenizer takes). Non-ASCII tokens are converted in one Buffer call (one
  // call per token took 1.6 s for o200k_base's 200,000).
  const byBytes = new Map<string, number>();
  const wideByText = new Map<string, number>();
  const wide: { value: string; rank: number }[] = [];
  ranks.forEach((value, rank) => {
    if (value === undefined) return;
    if (typeof value !== 'string') {
      byBytes.set(Buffer.from(value).toString('latin1'), rank);
    } else if (ASCII_ONLY.test(value)) {
      byBytes.set(value, rank);
    } else {
      wideByText.set(value, rank);
      wide.push({ value, rank });
    }
  });
  const joined = binary(wide.map((w) => w.value).join(''));
  let at = 0;
  for (const { value, rank } of wide) {
    const length = utf8Length(value);
    byBytes.set(joined.slice(at, at + length), rank);
    at += length;
  }
  const cache = new Map<string, number[]>();
  let lookups = 0;
  const rankOf = (bytes: string): number => {
    lookups++;
    if (bytes.startsWith(BOM) && endsOnCharacter(bytes)) {
      // gpt-tokenizer looks valid UTF-8 up by its decoded text, and its TextDecoder drops a leading
      // byte-order mark: so the tokens that start with one (stored as bytes) are never found, and
      // "BOM + text" is found as "text". Done the same here, or counts would depend on the path.
      const rest = bytes.slice(BOM.length);
      return rest.startsWith(BOM)
        ? Number.POSITIVE_INFINITY
        : (byBytes.get(rest) ?? Number.POSITIVE_INFINITY);
    }
    return byBytes.get(bytes) ?? Number.POSITIVE_INFINITY;
  };

  /** Merges the bytes of one pre-token: the lowest-ranked adjacent pair first, leftmost on ties. */
  const merge = (bytes: string): number[] => {
    const n = bytes.length;
    // Parts form a linked list over byte offsets; part p spans [p, next[p]).
    const next = new Int32Array(n + 1);
    const prev = new Int32Array(n + 1);
    const pairRank = new Float64Array(n);
    for (let p = 0; p <= n; p++) {
      next[p] = p + 1;
      prev[p] = p - 1;
    }
    const heap: number[] = [];
    const push = (key: number) => {
      let k = heap.push(key) - 1;
      while (k > 0) {
        const parent = (k - 1) >> 1;
        if (heap[parent]! <= key) break;
        heap[k] = heap[parent]!;
        k = parent;
      }
      heap[k] = key;
    };
    const pop = (): number => {
      const top = heap[0]!;
      const last = heap.pop()!;
      if (heap.length > 0) {
        let k = 0;
        for (;;) {
          const left = 2 * k + 1;
          if (left >= heap.length) break;
          const right = left + 1;
          const child = right < heap.length && heap[right]! < heap[left]! ? right : left;
          if (heap[child]! >= last) break;
          heap[k] = heap[child]!;
          k = child;
        }
        heap[k] = last;
      }
      return top;
    };
    const rate = (p: number) => {
      const end = next[next[p]!]!;
      pairRank[p] = end > n ? Number.POSITIVE_INFINITY : rankOf(bytes.slice(p, end));
      if (pairRank[p] !== Number.POSITIVE_INFINITY) push(pairRank[p]! * POSITION_BITS + p);
    };
    for (let p = 0; p + 1 < n; p++) rate(p);
    pairRank[n - 1] = Number.POSITIVE_INFINITY;
    while (heap.length > 0) {
      const key = pop();
      const p = key % POSITION_BITS;
      const rank = (key - p) / POSITION_BITS;
      // A stale entry: the part was merged into its left neighbour, or its pair grew since (a pair
      // starting at p only ever grows, and distinct byte strings have distinct ranks).
      if (prev[p] === -2 || pairRank[p] !== rank) continue;
      const q = next[p]!;
      next[p] = next[q]!;
      if (next[q]! <= n) prev[next[q]!] = p;
      prev[q] = -2;
      rate(p);
      if (prev[p]! >= 0) rate(prev[p]!);
    }
    const out: number[] = [];
    for (let p = 0; p < n; p = next[p]!) {
      const rank = rankOf(bytes.slice(p, next[p]!));
      if (rank === Number.POSITIVE_INFINITY) {
        throw new Error(`byte-pair encoding: no rank for the bytes at ${p} of a pre-token`);
      }
      out.push(rank);
    }
    return out;
  };

  const encodePiece = (piece: string): number[] => {
    // A key of byBytes with a byte ≥ 0x80 could equal a non-ASCII piece's text: look those up by text.
    const whole = ASCII_ONLY.test(piece) ? byBytes.get(piece) : wideByText.get(piece);
    if (whole !== undefined) return [whole];
    const bytes = binary(piece);
    if (bytes.length > CACHE_PIECE_BYTES) return merge(bytes);
    let tokens = cache.get(bytes);
    if (tokens === undefined) {
      tokens = merge(bytes);
      if (cache.size >= CACHE_LIMIT) cache.clear();
      cache.set(bytes, tokens);
    }
    return tokens;
  };

  const pattern = new RegExp(
    splitRegex.source,
    splitRegex.flags.includes('g') ? splitRegex.flags : `${splitRegex.flags}g`,
  );
  return {
    encode(text) {
      const out: number[] = [];
      for (const [piece] of text.matchAll(pattern)) {
        for (const token of encodePiece(piece)) out.push(token);
      }
      return out;
    },
    get lookups() {
      return lookups;
    },
  };
}
