/**
 * Offset helpers shared by the tokenizers and strategies: code-point and grapheme-cluster boundaries in
 * UTF-16 offsets (the unit of JS strings and of `Chunk.startChar`/`endChar`).
 */
import type { TokenSegments } from './types.js';

/**
 * Only ever run over a small window. Node 20's ICU grapheme segmenter is quadratic over long inputs
 * (measured: iterating 20 000 ASCII chars takes 94 ms, 80 000 take 1.7 s; 80 000 CJK chars take 12 s),
 * so a 1 MB document must never be handed to it whole.
 */
const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
/** Context either side of an uncertain offset. Clusters longer than this are decided approximately. */
const WINDOW = 64;

const EXTEND = /^[\p{Grapheme_Extend}\p{Emoji_Modifier}\u200d]$/u;
const SPACING_MARK = /^[\p{Mc}\u0e33\u0eb3]$/u;
const CONTROL = /^[\p{Cc}\p{Zl}\p{Zp}]$/u;
/** Format and unassigned code points: most are Control (GB4/GB5), but ZWJ, ZWNJ and Prepend ones are not. */
const FORMAT_OR_UNASSIGNED = /^[\p{Cf}\p{Cn}]$/u;
const MARK = /^\p{M}$/u;
const EXT_PICT = /^\p{Extended_Pictographic}$/u;
const HANGUL = /^\p{Script=Hangul}$/u;

/** Whether offset `i` splits a surrogate pair (a high surrogate at i-1 followed by a low one at i). */
export function insideSurrogatePair(text: string, i: number): boolean {
  if (i <= 0 || i >= text.length) return false;
  const hi = text.charCodeAt(i - 1);
  const lo = text.charCodeAt(i);
  return hi >= 0xd800 && hi <= 0xdbff && lo >= 0xdc00 && lo <= 0xdfff;
}

function codePointBefore(text: string, i: number): number {
  const lo = text.charCodeAt(i - 1);
  if (lo >= 0xdc00 && lo <= 0xdfff && i >= 2) {
    const hi = text.charCodeAt(i - 2);
    if (hi >= 0xd800 && hi <= 0xdbff) return (hi - 0xd800) * 0x400 + (lo - 0xdc00) + 0x10000;
  }
  return lo;
}

function isRegionalIndicator(cp: number): boolean {
  return cp >= 0x1f1e6 && cp <= 0x1f1ff;
}

/** Prepend characters (GB9b) of Unicode 15, plus the supplementary Brahmic block where more may appear. */
function maybePrepend(cp: number): boolean {
  return (
    (cp >= 0x0600 && cp <= 0x0605) ||
    cp === 0x06dd ||
    cp === 0x070f ||
    cp === 0x0890 ||
    cp === 0x0891 ||
    cp === 0x08e2 ||
    cp === 0x0d4e ||
    (cp >= 0x11000 && cp <= 0x11fff)
  );
}

function segmenterSaysBreak(text: string, i: number): boolean {
  let start = Math.max(0, i - WINDOW);
  if (insideSurrogatePair(text, start)) start -= 1;
  let end = Math.min(text.length, i + WINDOW);
  if (insideSurrogatePair(text, end)) end += 1;
  const local = i - start;
  return graphemes.segment(text.slice(start, end)).containing(local)?.index === local;
}

/**
 * Whether offset `i` is an extended grapheme cluster boundary (UAX #29). Decides the common cases
 * directly from the two code points around `i` and asks ICU, on a small window, about the rest
 * (format characters, Hangul jamo, prepend, spacing marks, emoji ZWJ sequences, Indic conjuncts).
 */
export function isGraphemeBreak(text: string, i: number): boolean {
  if (i <= 0 || i >= text.length) return true;
  if (insideSurrogatePair(text, i)) return false;
  const before = codePointBefore(text, i);
  const after = text.codePointAt(i)!;
  // Fast path for the overwhelmingly common case: ASCII after ASCII breaks unless it is CR LF (GB3).
  if (after < 0x80 && before < 0x80) return !(before === 0x0d && after === 0x0a);
  const a = String.fromCodePoint(after);
  const b = String.fromCodePoint(before);
  if (before === 0x0d && after === 0x0a) return false;
  if (before === 0x0a || before === 0x0d || CONTROL.test(b)) return true; // GB4
  if (after === 0x0a || after === 0x0d || CONTROL.test(a)) return true; // GB5
  if (FORMAT_OR_UNASSIGNED.test(a) || FORMAT_OR_UNASSIGNED.test(b)) return segmenterSaysBreak(text, i);
  if (EXTEND.test(a)) return false; // GB9
  if (isRegionalIndicator(after) && isRegionalIndicator(before)) {
    // GB12/13: flags pair up from the start of a run of regional indicators.
    let run = 0;
    let j = i;
    while (j >= 2 && isRegionalIndicator(codePointBefore(text, j))) {
      run += 1;
      j -= 2;
    }
    return run % 2 === 0;
  }
  const uncertain =
    SPACING_MARK.test(a) ||
    maybePrepend(before) ||
    (before === 0x200d && EXT_PICT.test(a)) ||
    // GB9c (Indic conjuncts, Unicode 15.1) — whether it applies depends on the ICU version.
    (after >= 0x0900 && after <= 0x0dff && MARK.test(b)) ||
    (HANGUL.test(a) &&
      HANGUL.test(b) &&
      !(after >= 0xac00 && after <= 0xd7a3 && !isHangulLeadingJamo(before)));
  return uncertain ? segmenterSaysBreak(text, i) : true;
}

function isHangulLeadingJamo(cp: number): boolean {
  return (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0xa960 && cp <= 0xa97c);
}

/** Appends a segment, folding it into the previous one when it ends at the same offset. */
export function pushSegment(segments: TokenSegments, end: number, tokens: number): void {
  const last = segments.ends.length - 1;
  if (last >= 0 && segments.ends[last]! >= end) {
    segments.tokens[last]! += tokens;
    return;
  }
  segments.ends.push(end);
  segments.tokens.push(tokens);
  segments.clusterEnd.push(true);
}

/** Marks which segment ends are grapheme boundaries (call once all segments are pushed). */
export function markClusterEnds(text: string, segments: TokenSegments): TokenSegments {
  const { ends, clusterEnd } = segments;
  for (let k = 0; k < ends.length; k++) clusterEnd[k] = isGraphemeBreak(text, ends[k]!);
  return segments;
}

/** The cut points of `segments` that are also grapheme boundaries: what `Tokenizer.boundaries` returns. */
export function clusterBoundaries(segments: TokenSegments): number[] {
  const out: number[] = [];
  for (let k = 0; k < segments.ends.length; k++) {
    if (segments.clusterEnd[k]) out.push(segments.ends[k]!);
  }
  return out;
}

export function emptySegments(): TokenSegments {
  return { ends: [], tokens: [], clusterEnd: [] };
}
