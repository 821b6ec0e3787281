/**
 * The evaluation corpus: the SQL command reference of the PostgreSQL 15 manual, as Debian's
 * `postgresql-doc-15` package installs it (`apt-get install postgresql-doc-15`). One document per
 * command page: its title line ("CREATE INDEX — define a new index") and the prose of its
 * Description section, cut at DESCRIPTION_CHARS so embedding the corpus with the offline model takes
 * minutes, not hours (≈ 2 chunks per page).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const HTML_DIR = process.env.PGEMBED_PGDOC_DIR ?? '/usr/share/doc/postgresql-doc-15/html';
const DESCRIPTION_CHARS = 2000;
/** Pages under sql-* that are not one command. */
const NOT_COMMANDS = new Set(['sql-commands', 'sql-expressions', 'sql-keywords-appendix', 'sql-syntax']);

export interface CorpusDocument {
  /** File name without .html, e.g. `sql-createindex`: the gold label of the questions. */
  slug: string;
  title: string;
  body: string;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

export function htmlToText(html: string): string {
  return html
    .replace(/<[^>]+>/g, '')
    .replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (entity, name: string) => {
      if (name.startsWith('#x')) return String.fromCodePoint(Number.parseInt(name.slice(2), 16));
      if (name.startsWith('#')) return String.fromCodePoint(Number(name.slice(1)));
      return ENTITIES[name] ?? entity;
    })
    .replace(/[ \t\r\n]+/g, ' ')
    .trim();
}

export function loadCorpus(dir = HTML_DIR): CorpusDocument[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => /^sql-.+\.html$/.test(f));
  } catch (error) {
    throw new Error(`${dir} is missing: install the manual with \`apt-get install postgresql-doc-15\``, {
      cause: error,
    });
  }
  const docs: CorpusDocument[] = [];
  for (const file of files.sort()) {
    const slug = file.slice(0, -5);
    if (NOT_COMMANDS.has(slug) || slug.startsWith('sql-syntax')) continue;
    const html = readFileSync(join(dir, file), 'utf8');
    const purpose = /<div class="refnamediv">.*?<p>(.*?)<\/p>/s.exec(html)?.[1];
    const description = /<h2>Description<\/h2>(.*?)(?=<div class="refsect1"|$)/s.exec(html)?.[1];
    if (!purpose || !description) continue;
    const title = htmlToText(purpose);
    let body = htmlToText(description);
    if (body.length > DESCRIPTION_CHARS) {
      const cut = body.lastIndexOf('. ', DESCRIPTION_CHARS);
      body = body.slice(0, cut > DESCRIPTION_CHARS / 2 ? cut + 1 : DESCRIPTION_CHARS);
    }
    docs.push({ slug, title, body: `${title}\n\n${body}` });
  }
  return docs;
}
