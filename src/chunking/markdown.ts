/**
 * The `markdown` strategy: chunks follow the document's structure. Each heading starts a section and
 * every chunk knows its heading path; blocks (paragraphs, lists, tables, fenced and indented code,
 * front matter) are packed whole, and a block is split only when it alone exceeds the budget — a code
 * block or table then at line boundaries, each piece carrying the opening fence or the header rows in
 * its context so it still renders. The context (on by default) is the title and the heading path,
 * `# Parent > ## Child`, ahead of the content for the embedder; the content stays the source span.
 *
 * The scanner is a line-based subset of CommonMark/GFM block structure (no inline parsing): it is what
 * decides where chunks may end, and it runs at several times the speed of a full Markdown parser.
 */
import {
  byLine,
  byParagraph,
  bySentence,
  byWord,
  LEVEL,
  pack,
  type Refiner,
  type Section,
  type Span,
  trimSpan,
} from './pack.js';
import { validateChunkOptions } from './token.js';
import type { Chunker, ChunkOptions } from './types.js';

export type BlockKind = 'heading' | 'code' | 'table' | 'list' | 'paragraph' | 'frontmatter';

export interface Block {
  kind: BlockKind;
  start: number;
  end: number;
  /** Heading level 1–6 (headings). */
  depth?: number;
  /** Heading text without markers (headings). */
  text?: string;
  /** Opening fence line (code) or header and delimiter rows (table). */
  opener?: string;
  /** Offset where the table body starts (tables). */
  bodyStart?: number;
}

const ATX = /^ {0,3}(#{1,6})(?:[ \t]+|$)/;
const FENCE = /^ {0,3}(`{3,}|~{3,})/;
const SETEXT = /^ {0,3}(?:=+|-+)[ \t]*$/;
const LIST = /^ {0,3}(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)/;
// Written so that no two `[ \t]*` can split one run of blanks between them: the backtracking over
// all the ways to split it was quadratic in the length of a line of blanks (`|-` then 100,000 spaces).
const TABLE_DELIMITER = /^ {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*(?:\|[ \t]*)?$/;
const BLANK = /^[ \t]*$/;
const INDENTED = /^(?: {4}|\t)/;
const THEMATIC = /^ {0,3}(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,})$/;
/**
 * `title: value` in front matter, the value without the blanks around it. Not `(.+?)[ \t]*$`: the lazy
 * group retried `[ \t]*$` over the whole rest of the line at every character (quadratic in a line of
 * blanks); the second alternative keeps its one odd case, a value of only blanks, which it captures as
 * the last blank.
 */
const FRONT_TITLE = /^title[ \t]*[:=][ \t]*(.*[^ \t\n\r\u2028\u2029]|[ \t])[ \t]*$/m;

/**
 * An ATX heading's text without its optional closing sequence (`## Title ##`): what
 * `text.replace(/(?:^|[ \t]+)#+[ \t]*$/, '')` gives, without that regex's quadratic backtracking over a
 * long run of blanks that does not end the line.
 */
function withoutClosingHashes(text: string): string {
  const blank = (k: number) => text[k] === ' ' || text[k] === '\t';
  let end = text.length;
  while (end > 0 && blank(end - 1)) end--;
  let hashes = end;
  while (hashes > 0 && text[hashes - 1] === '#') hashes--;
  if (hashes === end) return text;
  if (hashes === 0) return '';
  if (!blank(hashes - 1)) return text;
  let start = hashes;
  while (start > 0 && blank(start - 1)) start--;
  return text.slice(0, start);
}

/** The block structure of a Markdown document, in order; blank lines belong to no block. */
export function scanBlocks(source: string): Block[] {
  const starts: number[] = [];
  const ends: number[] = [];
  for (let at = 0; at <= source.length; ) {
    const nl = source.indexOf('\n', at);
    const stop = nl === -1 ? source.length : nl;
    starts.push(at);
    ends.push(stop > at && source.charCodeAt(stop - 1) === 13 ? stop - 1 : stop);
    if (nl === -1) break;
    at = nl + 1;
  }
  const L = starts.length;
  const line = (l: number) => source.slice(starts[l]!, ends[l]!);
  const blank = (l: number) => BLANK.test(line(l));
  const indent = (l: number) => {
    let k = 0;
    const s = line(l);
    while (k < s.length && (s[k] === ' ' || s[k] === '\t')) k += s[k] === '\t' ? 4 - (k % 4) : 1;
    return k;
  };
  const blocks: Block[] = [];
  const push = (kind: BlockKind, first: number, last: number, extra: Partial<Block> = {}) => {
    blocks.push({ kind, start: starts[first]!, end: ends[last]!, ...extra });
  };

  let l = 0;
  // Front matter: YAML between --- lines (or TOML between +++) at the very top.
  const top = L > 0 ? line(0).trimEnd() : '';
  if (top === '---' || top === '+++') {
    for (let m = 1; m < L; m++) {
      const t = line(m).trimEnd();
      if (t === top || (top === '---' && t === '...')) {
        push('frontmatter', 0, m);
        l = m + 1;
        break;
      }
    }
  }

  while (l < L) {
    const text = line(l);
    if (BLANK.test(text)) {
      l++;
      continue;
    }
    const atx = ATX.exec(text);
    if (atx) {
      const title = withoutClosingHashes(text.slice(atx[0].length)).trim();
      push('heading', l, l, { depth: atx[1]!.length, text: title });
      l++;
      continue;
    }
    const fence = FENCE.exec(text);
    if (fence && !(fence[1]![0] === '`' && text.slice(fence[0].length).includes('`'))) {
      const marker = fence[1]!;
      const close = new RegExp(`^ {0,3}${marker[0] === '`' ? '`' : '~'}{${marker.length},}[ \\t]*$`);
      let m = l + 1;
      while (m < L && !close.test(line(m))) m++;
      const last = Math.min(m, L - 1);
      push('code', l, last, { opener: text });
      l = last + 1;
      continue;
    }
    if (INDENTED.test(text)) {
      let m = l + 1;
      let last = l;
      while (m < L && (blank(m) || indent(m) >= 4)) {
        if (!blank(m)) last = m;
        m++;
      }
      push('code', l, last);
      l = last + 1;
      continue;
    }
    if (LIST.test(text) && !THEMATIC.test(text)) {
      let m = l + 1;
      let last = l;
      while (m < L) {
        if (blank(m)) {
          let next = m + 1;
          while (next < L && blank(next)) next++;
          if (next < L && (LIST.test(line(next)) || indent(next) >= 2) && !THEMATIC.test(line(next))) {
            m = next;
            continue;
          }
          break;
        }
        const t = line(m);
        if ((ATX.test(t) || THEMATIC.test(t) || (FENCE.test(t) && indent(m) < 2)) && indent(m) < 2) break;
        last = m;
        m++;
      }
      push('list', l, last);
      l = last + 1;
      continue;
    }
    if (text.includes('|') && l + 1 < L && TABLE_DELIMITER.test(line(l + 1)) && line(l + 1).includes('-')) {
      let m = l + 2;
      while (m < L && !blank(m) && line(m).includes('|')) m++;
      push('table', l, m - 1, {
        opener: `${text}\n${line(l + 1)}`,
        bodyStart: starts[l + 2] ?? ends[l + 1]!,
      });
      l = m;
      continue;
    }
    // Paragraph (block quotes and HTML blocks too): until a blank line or a block that interrupts it.
    let m = l + 1;
    let setext = 0;
    while (m < L) {
      const t = line(m);
      if (BLANK.test(t) || ATX.test(t) || FENCE.test(t)) break;
      if (SETEXT.test(t)) {
        setext = t.trim()[0] === '=' ? 1 : 2;
        break;
      }
      if (THEMATIC.test(t) || (LIST.test(t) && indent(m) < 4)) break;
      m++;
    }
    if (setext) {
      const title = source
        .slice(starts[l]!, ends[m - 1]!)
        .replace(/\s+/g, ' ')
        .trim();
      push('heading', l, m, { depth: setext, text: title });
      l = m + 1;
    } else {
      push('paragraph', l, m - 1);
      l = m;
    }
  }
  return blocks;
}

/** Splits a list at its items (lines that start one at the list's own indentation). */
const byListItem: Refiner = (source, start, end) => {
  const out: { start: number; end: number }[] = [];
  let from = start;
  let at = source.indexOf('\n', start);
  while (at !== -1 && at < end) {
    const lineStart = at + 1;
    const nl = source.indexOf('\n', lineStart);
    const text = source.slice(lineStart, nl === -1 || nl > end ? end : nl);
    if (LIST.test(text)) {
      const piece = trimSpan(source, from, lineStart);
      if (piece) out.push(piece);
      from = lineStart;
    }
    at = nl;
  }
  const last = trimSpan(source, from, end);
  if (last) out.push(last);
  return out;
};

/** Splits a table into its header and delimiter rows (one piece), then one piece per body row. */
function byTableRow(bodyStart: number): Refiner {
  return (source, start, end) => {
    const head = trimSpan(source, start, Math.min(bodyStart, end));
    const rows = bodyStart < end ? byLine(source, bodyStart, end) : [];
    return head ? [head, ...rows] : rows;
  };
}

const CODE_LINES: Refiner = (source, start, end) => {
  // Lines keep their indentation, except the first of a piece (a span starts at non-whitespace).
  return byLine(source, start, end);
};

export const markdownChunker: Chunker = (source, options) => {
  validateChunkOptions(options);
  const blocks = scanBlocks(source);
  const sections: Section[] = [{ path: [], marked: [] }];
  const stack: { depth: number; text: string }[] = [];
  const spans: Span[] = [];
  const prose = [byLine, bySentence(options.locale), byWord];
  const count = (start: number, end: number) => options.tokenizer.count(source.slice(start, end));
  let section = 0;
  let title = options.title;
  let hardNext = false;

  for (const block of blocks) {
    options.deadline?.check();
    const trimmed = trimSpan(source, block.start, block.end);
    if (!trimmed) continue;
    const base = { ...trimmed, tokens: count(trimmed.start, trimmed.end), level: LEVEL.paragraph };
    switch (block.kind) {
      case 'heading': {
        while (stack.length > 0 && stack[stack.length - 1]!.depth >= block.depth!) stack.pop();
        stack.push({ depth: block.depth!, text: block.text! });
        sections.push({
          path: stack.map((h) => h.text),
          marked: stack.map((h) => `${'#'.repeat(h.depth)} ${h.text}`),
        });
        section = sections.length - 1;
        title ??= block.text || undefined;
        spans.push({ ...base, level: LEVEL.section, section, hard: true, heading: true, refine: [byWord] });
        break;
      }
      case 'frontmatter': {
        const found = FRONT_TITLE.exec(source.slice(block.start, block.end));
        if (found && options.title === undefined) title = found[1]!.replace(/^["']|["']$/g, '');
        spans.push({ ...base, section, atomic: true, refine: [byLine] });
        break;
      }
      case 'code':
        spans.push({
          ...base,
          section,
          atomic: true,
          pieceExtra: block.opener,
          refine: [CODE_LINES],
        });
        break;
      case 'table':
        spans.push({
          ...base,
          section,
          atomic: true,
          pieceExtra: block.opener,
          refine: [byTableRow(block.bodyStart!)],
        });
        break;
      case 'list':
        spans.push({ ...base, section, refine: [byListItem, byParagraph, ...prose] });
        break;
      default:
        spans.push({ ...base, section, refine: prose });
    }
    const current = spans[spans.length - 1]!;
    if (hardNext) current.hard = true;
    hardNext = block.kind === 'frontmatter';
  }
  const resolved: ChunkOptions = { ...options, context: options.context ?? true, title };
  return pack(source, spans, resolved, { balance: true, sections, headingPaths: true });
};
