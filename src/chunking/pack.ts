/**
 * The packer every boundary-based strategy (`recursive`, `sentence`, `semantic`, `markdown`) shares.
 * A strategy describes the document as ordered spans (paragraphs, sentences, Markdown blocks) with
 * the strength of the boundary before each; the packer refines spans that alone exceed the budget
 * (paragraph → line → sentence → word → token), then groups them into chunks that fit the budget
 * *including* the context the embedder will see, with span-level overlap.
 *
 * Cost: every span is tokenized once and every chunk once more (its exact count is what the
 * provider sees, and BPE merges at span edges can differ from the sum), so a document is tokenized
 * about twice; refinement touches only oversized spans.
 */
import { PgembedError } from '../errors.js';
import { sentenceStarts } from './sentences.js';
import type { Chunk, ChunkOptions, Tokenizer } from './types.js';

/** Strength of the boundary before a span: higher is a better place to end a chunk. */
export const LEVEL = {
  token: 0,
  word: 1,
  sentence: 2,
  line: 3,
  paragraph: 4,
  section: 5,
} as const;

/** One refinement step: sub-spans of [start, end) (trimmed, non-empty), or one span when it cannot split. */
export type Refiner = (source: string, start: number, end: number) => { start: number; end: number }[];

export interface Span {
  start: number;
  end: number;
  /** Tokens of source.slice(start, end). */
  tokens: number;
  /** Boundary strength before this span (LEVEL). */
  level: number;
  /** Index into the packer's sections (heading paths); 0 when the strategy has none. */
  section: number;
  /**
   * Starts a new section: a chunk holding anything but headings ends before it, and no overlap is
   * carried across it.
   */
  hard?: boolean;
  /** A heading line: sticks to what follows it. */
  heading?: boolean;
  /** A code block, table or front matter: split only when it alone exceeds the budget. */
  atomic?: boolean;
  /** Context a piece of a split block needs to render (its opening fence, a table's header rows). */
  extra?: string;
  /** The `extra` of this span's pieces after the first, when it is split. */
  pieceExtra?: string;
  /** Refiners still available for this span, finest last. */
  refine?: readonly Refiner[];
}

export interface Section {
  /** Heading texts, outermost first. */
  path: string[];
  /** The same headings as written (`# Parent`, `## Child`), for the context prefix. */
  marked: string[];
}

export interface PackSettings {
  /**
   * Prefer ending a chunk at the strongest boundary in its second half over filling it greedily
   * (`semantic`, `markdown`); `recursive` and `sentence` fill greedily.
   */
  balance: boolean;
  /** Sections by index (markdown); others pass a single empty section. */
  sections: Section[];
  /** Report headingPath on chunks (markdown). */
  headingPaths: boolean;
}

const WS = /\s/;

/** Trims a span to its non-whitespace extent; undefined when nothing is left. */
export function trimSpan(
  source: string,
  start: number,
  end: number,
): { start: number; end: number } | undefined {
  let s = start;
  let e = end;
  while (s < e && WS.test(source[s]!)) s++;
  while (e > s && WS.test(source[e - 1]!)) e--;
  // Whitespace is all in the BMP: trimming never splits a surrogate pair.
  return s < e ? { start: s, end: e } : undefined;
}

/** Splits [start, end) at every match of `separator` (a global regex), trimming each piece. */
export function splitBy(separator: RegExp): Refiner {
  return (source, start, end) => {
    const out: { start: number; end: number }[] = [];
    const text = source.slice(start, end);
    separator.lastIndex = 0;
    let from = 0;
    for (let m = separator.exec(text); m !== null; m = separator.exec(text)) {
      if (m[0].length === 0) {
        separator.lastIndex++;
        continue;
      }
      const piece = trimSpan(source, start + from, start + m.index);
      if (piece) out.push(piece);
      from = m.index + m[0].length;
    }
    const last = trimSpan(source, start + from, end);
    if (last) out.push(last);
    return out;
  };
}

export const byParagraph = splitBy(/\n[ \t]*(?:\r?\n[ \t]*)+/g);
export const byLine = splitBy(/\r?\n/g);
export const byWord = splitBy(/\s+/g);

/** Sentence refiner for a locale (ICU segmentation, abbreviations kept together). */
export function bySentence(locale?: string): Refiner {
  return (source, start, end) => {
    const starts = sentenceStarts(source, start, end, locale);
    const out: { start: number; end: number }[] = [];
    for (let k = 0; k < starts.length; k++) {
      const piece = trimSpan(source, starts[k]!, starts[k + 1] ?? end);
      if (piece) out.push(piece);
    }
    return out;
  };
}

/** The prose refinement chain: paragraph, line, sentence, word (then tokens, always last). */
export function proseChain(locale?: string): Refiner[] {
  return [byParagraph, byLine, bySentence(locale), byWord];
}

const LEVEL_OF = new Map<Refiner, number>([
  [byParagraph, LEVEL.paragraph],
  [byLine, LEVEL.line],
  [byWord, LEVEL.word],
]);

function levelOf(refiner: Refiner): number {
  return LEVEL_OF.get(refiner) ?? LEVEL.sentence;
}

/** The text the embedder reads for a chunk: its context (if any), a blank line, then its content. */
export function embeddingText(chunk: Pick<Chunk, 'content' | 'context'>): string {
  return chunk.context ? `${chunk.context}\n\n${chunk.content}` : chunk.content;
}

/**
 * Splits every span that cannot fit a chunk alone (with its full context, or — for atomic blocks —
 * even without context) at the next finer boundary, down to single tokens. Refining refined spans
 * changes nothing, so a strategy may refine first (to embed the units, say) and pack the result.
 */
export function refineSpans(
  source: string,
  input: Span[],
  options: ChunkOptions,
  settings: PackSettings,
): Span[] {
  return refine(source, input, options, new ContextCache(options, settings, options.tokenizer));
}

function refine(source: string, input: Span[], options: ChunkOptions, contexts: ContextCache): Span[] {
  const { chunkSize, tokenizer } = options;
  const spans: Span[] = [];
  const expand = (span: Span) => {
    options.deadline?.check();
    const limit = span.atomic ? chunkSize : chunkSize - contexts.fullCost(span.section, span.extra);
    if (span.tokens <= Math.max(1, limit)) {
      spans.push(span);
      return;
    }
    const chain = span.refine ?? [];
    for (let k = 0; k < chain.length; k++) {
      const parts = chain[k]!(source, span.start, span.end);
      if (parts.length <= 1) continue;
      const level = levelOf(chain[k]!);
      const rest = chain.slice(k + 1);
      parts.forEach((part, p) => {
        expand({
          ...part,
          tokens: tokenizer.count(source.slice(part.start, part.end)),
          level: p === 0 ? span.level : level,
          section: span.section,
          hard: p === 0 ? span.hard : undefined,
          heading: span.heading,
          // Pieces of a block carry what it takes to render them; the opening piece renders by itself.
          extra: p === 0 ? span.extra : (span.pieceExtra ?? span.extra),
          pieceExtra: span.pieceExtra,
          refine: rest,
        });
      });
      return;
    }
    for (const piece of tokenPieces(source, span, tokenizer, chunkSize)) spans.push(piece);
  };
  for (const span of input) expand(span);
  return spans;
}

/**
 * Packs spans into chunks. `spans` are in source order, trimmed and non-empty, with `tokens` set.
 * Every chunk satisfies tokenizer.count(embeddingText(chunk)) ≤ chunkSize.
 */
export function pack(source: string, input: Span[], options: ChunkOptions, settings: PackSettings): Chunk[] {
  const { chunkSize, chunkOverlap, tokenizer } = options;
  const contexts = new ContextCache(options, settings, tokenizer);
  const counter = new SpanCounter(source, tokenizer);

  // 1. Refine spans too large for a chunk.
  const spans = refine(source, input, options, contexts);

  // 2. Pack. A run longer than this many UTF-16 units has more than chunkSize tokens (each token
  // covers at most `longestToken` bytes): the greedy fill stops there without the estimates, which do
  // not see runs of whitespace between spans (the exact check would reject every longer run anyway).
  const longest = chunkSize * (tokenizer.longestToken ?? Number.POSITIVE_INFINITY);
  const longestOverlap = chunkOverlap * (tokenizer.longestToken ?? Number.POSITIVE_INFINITY);
  /** Over budget by more than this, a chunk is not shrunk one span at a time (see below). */
  const farOver = Math.max(16, Math.floor(chunkSize / 8));
  const chunks: Chunk[] = [];
  let n = spans.length;
  let i = 0;
  /** First span the next chunk must include: chunks always move forward. */
  let mustInclude = 0;
  while (i < n) {
    options.deadline?.check();
    // Greedy fill from i by the spans' own counts (plus one token per gap: a newline or space that
    // the separate counts did not see).
    let j = i;
    let sum = spans[i]!.tokens;
    let body = !spans[i]!.heading;
    while (j + 1 < n) {
      const next = spans[j + 1]!;
      if (next.hard && body) break;
      if (j >= mustInclude && next.end - spans[i]!.start > longest) break;
      const cost = sum + 1 + next.tokens;
      if (cost + contexts.fullCost(next.section, spans[i]!.extra) > chunkSize) break;
      sum = cost;
      body ||= !next.heading;
      j++;
    }
    const floor = Math.max(i, mustInclude);
    const stoppedBySize = j + 1 < n && !(spans[j + 1]!.hard && body);
    if (settings.balance && stoppedBySize && j > floor) j = strongestEnd(spans, i, floor, j, chunkSize);
    // A chunk never ends on a heading when the heading's section could follow it in the same chunk.
    while (j > floor && spans[j]!.heading && !spans[j - 1]!.heading) j--;

    // Exact check, shrinking by whole spans (never below what it must include). On ordinary text the
    // estimates are off by a token or two (at most 4 steps down, measured on this project's docs and
    // the READMEs in node_modules); between spans separated by long runs of whitespace, which the
    // estimates do not see, they are off by thousands, and recounting the chunk one span shorter at a
    // time was quadratic there. So when the chunk is far over budget, or still over it after
    // SHRINK_STEPS steps, its end is found by galloping instead.
    let chunk: Chunk | undefined;
    const make = (end: number) =>
      finish(source, spans, i, end, contexts, settings, counter, chunkSize, chunks.length);
    for (let step = 0; ; step++) {
      const made = make(j);
      if (typeof made !== 'number') {
        chunk = made;
        break;
      }
      if (j <= floor) break;
      if (step === SHRINK_STEPS || (step === 0 && made > chunkSize + farOver)) {
        ({ chunk, end: j } = gallop(make, floor, j));
        break;
      }
      j--;
    }
    if (!chunk && i < mustInclude) {
      // The overlap left no room after all: drop it.
      i = mustInclude;
      continue;
    }
    if (!chunk) {
      // One span whose exact count disagrees with the estimates: split it into token pieces in place.
      const span = spans[i]!;
      const pieces = tokenPieces(source, span, tokenizer, Math.max(1, Math.floor(span.tokens / 2)));
      if (pieces.length <= 1) throw tooSmall(source, span.start, span.tokens, chunkSize);
      spans.splice(i, 1, ...pieces);
      n = spans.length;
      continue;
    }
    chunks.push(chunk);
    if (j + 1 >= n) break;
    mustInclude = j + 1;

    // Overlap: the trailing spans of this chunk worth at most chunkOverlap tokens, never across a
    // section boundary nor starting on a heading, and only when the next chunk can still grow.
    let next = j + 1;
    if (chunkOverlap > 0 && !spans[j + 1]!.hard) {
      let k = j + 1;
      let acc = -1;
      while (k > i) {
        const candidate = spans[k - 1]!;
        if (candidate.heading || candidate.hard || acc + 1 + candidate.tokens > chunkOverlap) break;
        if (spans[j]!.end - candidate.start > longestOverlap) break;
        acc += 1 + candidate.tokens;
        k--;
      }
      // Exact check of the overlapping text, dropping spans from its front until it fits (one span's
      // count is already exact).
      for (let step = 0; k < j && counter.count(spans, k, j) > chunkOverlap; step++) {
        if (step === SHRINK_STEPS) {
          k = firstFittingStart(counter, spans, k, j, chunkOverlap);
          break;
        }
        k++;
      }
      if (
        k <= j &&
        // Too long to fit with the next span: the next chunk would drop this overlap anyway.
        spans[j + 1]!.end - spans[k]!.start <= longest &&
        sumTokens(spans, k, j) +
          1 +
          spans[j + 1]!.tokens +
          contexts.fullCost(spans[j + 1]!.section, spans[k]!.extra) <=
          chunkSize
      ) {
        next = k;
      }
    }
    i = next;
  }
  return chunks;
}

/** Exact checks stepping one span at a time before `gallop`/`firstFittingStart` take over. */
const SHRINK_STEPS = 8;

/**
 * The chunk ending at the largest end in [floor, failed) that fits, given that `failed` does not: by
 * galloping up from the floor, then bisecting, so a chunk costs O(log n) counts of at most twice its
 * own text. Assumes a shorter run of spans never has more tokens than a longer one from the same start
 * (true of every tokenizer here but for merges at the very edge, which the exact check still catches).
 */
function gallop(
  make: (end: number) => Chunk | number,
  floor: number,
  failed: number,
): { chunk: Chunk | undefined; end: number } {
  const first = make(floor);
  if (typeof first === 'number') return { chunk: undefined, end: floor };
  let best = first;
  let lo = floor;
  let hi = failed;
  for (let step = 1; lo + step < hi; step *= 2) {
    const candidate = make(lo + step);
    if (typeof candidate === 'number') {
      hi = lo + step;
      break;
    }
    best = candidate;
    lo += step;
  }
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    const candidate = make(mid);
    if (typeof candidate === 'number') {
      hi = mid;
    } else {
      best = candidate;
      lo = mid;
    }
  }
  return { chunk: best, end: lo };
}

/**
 * The smallest start in (failed, j) whose run up to j fits `limit` exactly, else j: bisection, for
 * overlaps whose estimates are far off (the same long runs of whitespace as in `gallop`).
 */
function firstFittingStart(
  counter: SpanCounter,
  spans: Span[],
  failed: number,
  j: number,
  limit: number,
): number {
  let lo = failed;
  let hi = j;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (counter.count(spans, mid, j) > limit) lo = mid;
    else hi = mid;
  }
  return hi;
}

function sumTokens(spans: Span[], from: number, to: number): number {
  let sum = 0;
  for (let k = from; k <= to; k++) sum += spans[k]!.tokens + (k > from ? 1 : 0);
  return sum;
}

/**
 * The end in [i, j] with the strongest boundary after it, among ends that fill at least half the
 * budget; the latest one on ties. Keeps paragraphs whole where the budget allows.
 */
function strongestEnd(spans: Span[], i: number, floor: number, j: number, chunkSize: number): number {
  let best = j;
  let bestLevel = spans[j + 1]!.level;
  let filled = sumTokens(spans, i, j);
  for (let k = j - 1; k >= floor; k--) {
    filled -= spans[k + 1]!.tokens + 1;
    if (filled * 2 < chunkSize) break;
    if (spans[k + 1]!.level > bestLevel) {
      best = k;
      bestLevel = spans[k + 1]!.level;
    }
  }
  return best;
}

/** Builds the chunk for spans [i, j], or gives its exact count when that exceeds the budget. */
function finish(
  source: string,
  spans: Span[],
  i: number,
  j: number,
  contexts: ContextCache,
  settings: PackSettings,
  counter: SpanCounter,
  chunkSize: number,
  index: number,
): Chunk | number {
  const startChar = spans[i]!.start;
  const endChar = spans[j]!.end;
  const content = source.slice(startChar, endChar);
  // The section of a chunk is the one of its last span: a chunk only spans sections through a chain
  // of headings without body, and the deepest of those is the body's section.
  const section = spans[j]!.section;
  const tokenCount = counter.count(spans, i, j);
  if (tokenCount > chunkSize) return tokenCount;
  const context = contexts.richestFitting(section, spans[i]!.extra, content, tokenCount);
  const chunk: Chunk = { content, index, startChar, endChar, tokenCount };
  if (settings.headingPaths) chunk.headingPath = settings.sections[section]!.path;
  if (context) chunk.context = context;
  return chunk;
}

/**
 * Exact token counts of runs of spans, without tokenizing the run again when the tokenizer allows it.
 *
 * cl100k_base pre-tokenizes with a regex, and BPE never merges across pre-tokens. A position right after
 * `\r` or `\n` and before a non-whitespace character always starts a pre-token (no pattern of the regex
 * runs from a line break into a visible character), and pre-tokens never start inside a trimmed span's
 * neighbouring gap of whitespace except in one case: a span ending in punctuation, whose last
 * pre-token (` ?[^\s\p{L}\p{N}]+[\r\n]*`) swallows the line breaks that follow it. So for spans whose
 * gaps end in a line break, count(run) = Σ count(span) + Σ count(gap), with that one case corrected by
 * counting the span's final punctuation together with the line breaks. WordPiece never makes a token of
 * whitespace and always splits words at it, so there count(run) = Σ count(span) when every gap has a
 * space, tab or line break. Anything else (o200k_base, outside tokenizers, gaps of plain spaces between
 * sentences) is counted on the run's text. The property tests compare every chunk's count with
 * `tokenizer.count(content)`.
 */
class SpanCounter {
  private readonly mode: 'cl100k' | 'wordpiece' | 'exact';
  private readonly small = new Map<string, number>();
  constructor(
    private readonly source: string,
    private readonly tokenizer: Tokenizer,
  ) {
    this.mode =
      tokenizer.name === 'cl100k_base'
        ? 'cl100k'
        : tokenizer.name === 'all-MiniLM-L6-v2 WordPiece'
          ? 'wordpiece'
          : 'exact';
  }

  private countSmall(text: string): number {
    let n = this.small.get(text);
    if (n === undefined) {
      n = this.tokenizer.count(text);
      if (this.small.size < 10_000) this.small.set(text, n);
    }
    return n;
  }

  /** Exact tokens of source.slice(spans[i].start, spans[j].end). */
  count(spans: Span[], i: number, j: number): number {
    const { source } = this;
    if (i === j) return spans[i]!.tokens;
    if (this.mode !== 'exact') {
      let total = spans[i]!.tokens;
      let ok = true;
      for (let k = i; k < j && ok; k++) {
        const gapStart = spans[k]!.end;
        const gapEnd = spans[k + 1]!.start;
        total += spans[k + 1]!.tokens;
        if (this.mode === 'wordpiece') {
          ok = BERT_SPLIT.test(source.slice(gapStart, gapEnd));
          continue;
        }
        const last = source.charCodeAt(gapEnd - 1);
        if (gapEnd <= gapStart || (last !== 10 && last !== 13)) {
          ok = false;
          continue;
        }
        const gap = source.slice(gapStart, gapEnd);
        const first = gap.charCodeAt(0);
        const windowStart = Math.max(spans[k]!.start, gapStart - 64);
        const punctuation =
          first === 10 || first === 13
            ? TRAILING_PUNCTUATION.exec(source.slice(windowStart, gapStart))
            : null;
        if (punctuation && punctuation.index === 0 && windowStart > spans[k]!.start) {
          // A run of punctuation longer than the window: count the text instead.
          ok = false;
        } else if (punctuation) {
          const breaks = LEADING_BREAKS.exec(gap)![0];
          const rest = gap.slice(breaks.length);
          total += this.countSmall(punctuation[0] + breaks) - this.countSmall(punctuation[0]);
          if (rest !== '') total += this.countSmall(rest);
        } else {
          total += this.countSmall(gap);
        }
      }
      if (ok) return total;
    }
    return this.tokenizer.count(source.slice(spans[i]!.start, spans[j]!.end));
  }
}

/** The last cl100k pre-token of a text when it is a run of punctuation (with at most one leading space). */
const TRAILING_PUNCTUATION = / ?[^\s\p{L}\p{N}]+$/u;
const LEADING_BREAKS = /^[\r\n]+/;
/** Characters at which WordPiece splits words without making a token of them. */
const BERT_SPLIT = /[ \t\n\r]/;

/**
 * pgembed's own tokenizers split pre-tokens at a run of newlines followed by non-whitespace
 * (cl100k/o200k: the `\s*[\r\n]+` pattern; WordPiece: at whitespace), so the tokens of
 * `context + "\n\n" + content` are those of `context + "\n\n"` plus those of `content` (which
 * never starts with whitespace). Other tokenizers are asked about the whole text.
 */
const ADDITIVE_TOKENIZERS = /^(cl100k_base|o200k_base|all-MiniLM-L6-v2 WordPiece)$/;

interface ContextEntry {
  /** Candidate contexts, richest first ('' last). */
  list: string[];
  /** Tokens of `candidate + "\n\n"` per candidate, computed on demand. */
  costs: (number | undefined)[];
}

/**
 * Context strings per (section, extra), richest first: title and heading path; heading path only;
 * innermost heading only; the block's extra only; none. The richest context may take at most a third
 * of the budget. Token costs are memoized and computed only when asked for.
 */
class ContextCache {
  private readonly bySection = new Map<number, Map<string, ContextEntry>>();
  private readonly cap: number;
  private readonly additive: boolean;
  constructor(
    private readonly options: ChunkOptions,
    private readonly settings: PackSettings,
    private readonly tokenizer: Tokenizer,
  ) {
    this.cap = Math.floor(options.chunkSize / 3);
    this.additive = ADDITIVE_TOKENIZERS.test(tokenizer.name);
  }

  private entry(section: number, extra: string | undefined): ContextEntry {
    let perExtra = this.bySection.get(section);
    if (!perExtra) {
      perExtra = new Map();
      this.bySection.set(section, perExtra);
    }
    const key = extra ?? '';
    let entry = perExtra.get(key);
    if (!entry) {
      const list = this.build(section, extra);
      entry = { list, costs: list.map((c) => (c === '' ? 0 : undefined)) };
      perExtra.set(key, entry);
    }
    return entry;
  }

  private cost(entry: ContextEntry, k: number): number {
    let cost = entry.costs[k];
    if (cost === undefined) {
      const text = entry.list[k]!;
      // Too rich a context (over a third of the budget) is never used: make it unaffordable.
      cost =
        this.tokenizer.count(text) > this.cap
          ? Number.POSITIVE_INFINITY
          : this.tokenizer.count(`${text}\n\n`);
      entry.costs[k] = cost;
    }
    return cost;
  }

  private build(section: number, extra: string | undefined): string[] {
    const { context, title, headingSeparator } = this.options;
    const marked = context ? (this.settings.sections[section]?.marked ?? []) : [];
    const path = context ? (this.settings.sections[section]?.path ?? []) : [];
    const trimmedTitle = context && title ? title.trim() : '';
    const showTitle = trimmedTitle !== '' && path[0] !== trimmedTitle ? trimmedTitle : undefined;
    const separator = headingSeparator ?? ' > ';
    const join = (...parts: (string | undefined)[]) =>
      parts.filter((p) => p !== undefined && p !== '').join('\n');
    const list = [
      join(showTitle, marked.join(separator), extra),
      join(marked.join(separator), extra),
      join(marked.at(-1), extra),
      join(extra),
      '',
    ];
    return list.filter((c, k) => list.indexOf(c) === k);
  }

  /** Tokens the richest affordable context adds to a chunk of this section (0 when none). */
  fullCost(section: number, extra: string | undefined): number {
    const entry = this.entry(section, extra);
    for (let k = 0; k < entry.list.length; k++) {
      const cost = this.cost(entry, k);
      if (cost !== Number.POSITIVE_INFINITY) return cost;
    }
    return 0;
  }

  /** The richest context that fits the budget together with `content` ('' when none does). */
  richestFitting(section: number, extra: string | undefined, content: string, contentTokens: number): string {
    const entry = this.entry(section, extra);
    const budget = this.options.chunkSize;
    for (let k = 0; k < entry.list.length; k++) {
      const candidate = entry.list[k]!;
      if (candidate === '') return '';
      const cost = this.cost(entry, k);
      if (cost === Number.POSITIVE_INFINITY || cost + contentTokens > budget) continue;
      if (this.additive || this.tokenizer.count(`${candidate}\n\n${content}`) <= budget) return candidate;
    }
    return '';
  }
}

/**
 * The finest refinement: pieces of whole grapheme clusters of at most `limit` tokens (by the span's
 * own tokenization), or of code points when one cluster alone exceeds it.
 */
function tokenPieces(source: string, span: Span, tokenizer: Tokenizer, limit: number): Span[] {
  const text = source.slice(span.start, span.end);
  const { ends, tokens, clusterEnd } = tokenizer.segments
    ? tokenizer.segments(text)
    : (() => {
        const b = tokenizer.boundaries(text);
        return { ends: b, tokens: b.map(() => 1), clusterEnd: b.map(() => true) };
      })();
  const out: Span[] = [];
  const emit = (firstSeg: number, lastSeg: number) => {
    const from = firstSeg === 0 ? 0 : ends[firstSeg - 1]!;
    const trimmed = trimSpan(source, span.start + from, span.start + ends[lastSeg]!);
    if (!trimmed) return;
    // Counted on their own: a piece's share of the whole span's tokens can differ at its edges.
    out.push({
      ...trimmed,
      tokens: tokenizer.count(source.slice(trimmed.start, trimmed.end)),
      level: out.length === 0 ? span.level : LEVEL.token,
      section: span.section,
      hard: out.length === 0 ? span.hard : undefined,
      heading: span.heading,
      extra: span.extra,
    });
  };
  let first = 0;
  let acc = 0;
  let lastClean = -1;
  for (let k = 0; k < ends.length; k++) {
    const t = tokens[k]!;
    if (t > limit) throw tooSmall(source, span.start + (k === 0 ? 0 : ends[k - 1]!), t, limit);
    if (acc + t > limit) {
      // Close the piece at its last cluster boundary, or between code points when it has none.
      const cut = lastClean >= first ? lastClean : k - 1;
      emit(first, cut);
      first = cut + 1;
      acc = 0;
      for (let m = first; m < k; m++) acc += tokens[m]!;
      lastClean = -1;
    }
    acc += t;
    if (clusterEnd[k] || k === ends.length - 1) lastClean = k;
  }
  if (first < ends.length) emit(first, ends.length - 1);
  return out;
}

function tooSmall(source: string, at: number, cost: number, chunkSize: number): PgembedError {
  const cp = source.codePointAt(at) ?? 0;
  const name = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  return new PgembedError(
    'INVALID_ARGUMENT',
    `chunkSize ${chunkSize} is smaller than the ${cost} tokens of the text at offset ${at} (starting with ${name}), ` +
      'which cannot be cut without splitting a character; use a larger chunkSize',
  );
}
