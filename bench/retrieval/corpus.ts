/**
 * The evaluation corpus: pages of the PostgreSQL 15 manual, as Debian's `postgresql-doc-15` package
 * installs it (`apt-get install postgresql-doc-15`). One document per page, whole, converted from
 * HTML to Markdown (turndown, ATX headings, fenced code) as a user loading the manual into a table
 * would: the SQL command reference (every `sql-*` command page) and the chapters on data definition,
 * manipulation, queries, data types, indexes, concurrency, performance tips, routine maintenance,
 * backup and the tutorial. Links keep their text only (their targets are file names, noise to both
 * the embedder and full-text search).
 *
 * `plainText()` gives the same page without Markdown syntax, for the "what if the column holds plain
 * text" runs.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import TurndownService from 'turndown';

export const HTML_DIR = process.env.PGEMBED_PGDOC_DIR ?? '/usr/share/doc/postgresql-doc-15/html';
/** Pages under sql-* that are not one command. */
const NOT_COMMANDS = new Set(['sql-commands', 'sql-expressions', 'sql-keywords-appendix', 'sql-syntax']);
/** Chapters beyond the command reference, by file-name prefix (whole chapters: every section page). */
const CHAPTERS = [
  /^ddl(-.*)?$/,
  /^dml(-.*)?$/,
  /^queries(-.*)?$/,
  /^datatype(-.*)?$/,
  /^indexes(-.*)?$/,
  /^mvcc(-.*)?$/,
  /^transaction-iso$/,
  /^explicit-locking$/,
  /^applevel-consistency$/,
  /^performance-tips$/,
  /^using-explain$/,
  /^planner-stats$/,
  /^populate$/,
  /^non-durability$/,
  /^maintenance$/,
  /^routine-(vacuuming|reindex)$/,
  /^logfile-maintenance$/,
  /^backup(-.*)?$/,
  /^continuous-archiving$/,
  /^tutorial(-.*)?$/,
];

export interface CorpusDocument {
  /** File name without .html, e.g. `sql-createindex`: the gold label of the questions. */
  slug: string;
  /** The page's title, e.g. `CREATE INDEX` or `11.2. Index Types`. */
  title: string;
  /** The page as Markdown. */
  body: string;
}

const turndown = new TurndownService({
  headingStyle: 'atx',
  codeBlockStyle: 'fenced',
  bulletListMarker: '-',
});
turndown.addRule('link text only', { filter: 'a', replacement: (content) => content });
// The manual's synopses and examples are <pre> without <code>: fence them, verbatim.
turndown.addRule('pre as a fenced block', {
  filter: 'pre',
  replacement: (_content, node) => `\n\n\`\`\`\n${(node.textContent ?? '').replace(/\n+$/, '')}\n\`\`\`\n\n`,
});
// The manual's navigation tables and the page header/footer are not content.
turndown.remove(['head', 'script', 'style']);

export function isCommandPage(slug: string): boolean {
  return slug.startsWith('sql-') && !NOT_COMMANDS.has(slug) && !slug.startsWith('sql-syntax');
}

export function loadCorpus(dir = HTML_DIR): CorpusDocument[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.html'));
  } catch (error) {
    throw new Error(`${dir} is missing: install the manual with \`apt-get install postgresql-doc-15\``, {
      cause: error,
    });
  }
  const docs: CorpusDocument[] = [];
  for (const file of files.sort()) {
    const slug = file.slice(0, -5);
    if (!isCommandPage(slug) && !CHAPTERS.some((re) => re.test(slug))) continue;
    const html = readFileSync(join(dir, file), 'utf8');
    const title = /<title>(.*?)<\/title>/s.exec(html)?.[1]?.trim();
    const body = /<body[^>]*>(.*)<\/body>/s.exec(html)?.[1];
    if (!title || !body) continue;
    const content = body
      .replace(/<div class="navheader">.*?<hr \/><\/div>/s, '')
      .replace(/<div class="navfooter">.*$/s, '');
    const markdown = turndown
      .turndown(content)
      .replace(/[ \t]+\n/g, '\n')
      .replace(/\n{3,}/g, '\n\n')
      .trim();
    docs.push({ slug, title: decode(title), body: markdown });
  }
  return docs;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

function decode(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (entity, name: string) => {
    if (name.startsWith('#x')) return String.fromCodePoint(Number.parseInt(name.slice(2), 16));
    if (name.startsWith('#')) return String.fromCodePoint(Number(name.slice(1)));
    return ENTITIES[name] ?? entity;
  });
}

/** An HTML fragment as one line of text: tags removed, entities decoded, whitespace collapsed. */
export function htmlToText(html: string): string {
  return decode(html.replace(/<[^>]+>/g, ''))
    .replace(/[ \t\r\n]+/g, ' ')
    .trim();
}

/** The Markdown without its syntax: heading marks, emphasis, code fences and backticks. */
export function plainText(markdown: string): string {
  return markdown
    .replace(/^```.*$/gm, '')
    .replace(/^#{1,6}\s+/gm, '')
    .replace(/\\([\\`*_{}[\]()#+\-.!])/g, '$1')
    .replace(/`([^`]*)`/g, '$1')
    .replace(/(\*\*|__|\*|_)(\S(?:.*?\S)?)\1/g, '$2')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
