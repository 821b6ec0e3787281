/**
 * Real Markdown documents for the ingest comparisons: pages of the PostgreSQL 15 manual (Debian's
 * `postgresql-doc-15`), converted from HTML with turndown (ATX headings, fenced code), in file-name
 * order. Pages under 1,000 characters (index and navigation pages) are skipped: 400 documents are
 * then 3.1 MB, the shape the LangChain.js comparison is stated for. Deterministic; built in ~2 s.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import TurndownService from 'turndown';

export interface MarkdownDocument {
  name: string;
  text: string;
}

const PG_HTML = '/usr/share/doc/postgresql-doc-15/html';
const MIN_CHARS = 1_000;

export function markdownDocuments(count: number): MarkdownDocument[] {
  if (!existsSync(PG_HTML)) {
    throw new Error(`${PG_HTML} is missing: install it with \`apt-get install postgresql-doc-15\` (Debian)`);
  }
  const turndown = new TurndownService({
    headingStyle: 'atx',
    codeBlockStyle: 'fenced',
    bulletListMarker: '-',
  });
  turndown.remove(['script', 'style', 'head']);
  // Navigation bars repeat on every page and are not content.
  turndown.addRule('navigation', {
    filter: (node) =>
      node.nodeName === 'DIV' &&
      /\bnav(header|footer)\b/.test((node as unknown as { className: string }).className),
    replacement: () => '',
  });
  const out: MarkdownDocument[] = [];
  for (const file of readdirSync(PG_HTML)
    .filter((f) => f.endsWith('.html'))
    .sort()) {
    const text = turndown.turndown(readFileSync(join(PG_HTML, file), 'utf8')).trim();
    if (text.length < MIN_CHARS) continue;
    out.push({ name: file.replace(/\.html$/, '.md'), text });
    if (out.length === count) break;
  }
  return out;
}

/** UTF-8 bytes of the documents' text: what "MB of source" counts. */
export function sourceBytes(docs: readonly MarkdownDocument[]): number {
  return docs.reduce((sum, doc) => sum + Buffer.byteLength(doc.text), 0);
}
