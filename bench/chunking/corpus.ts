/**
 * The chunking benchmark's corpus: real Markdown from sources installable here.
 * - The PostgreSQL 15 manual (Debian's `postgresql-doc-15`, HTML in /usr/share/doc/postgresql-doc-15/html),
 *   converted to Markdown with turndown (ATX headings, fenced code: `<pre>` becomes a fence).
 * - README.md files of the npm packages in node_modules (whatever `npm ci` installed).
 * Deterministic for a given set of installed packages: files in name order, up to a size budget.
 * Built once and cached under node_modules/.cache/pgembed-bench/.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import TurndownService from 'turndown';

export interface CorpusDocument {
  name: string;
  text: string;
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PG_HTML = '/usr/share/doc/postgresql-doc-15/html';
const CACHE = join(ROOT, 'node_modules/.cache/pgembed-bench');

function pgManual(budget: number): CorpusDocument[] {
  if (!existsSync(PG_HTML)) {
    throw new Error(`${PG_HTML} is missing: install it with \`apt-get install postgresql-doc-15\` (Debian)`);
  }
  const turndown = new TurndownService({
    headingStyle: 'atx',
    codeBlockStyle: 'fenced',
    bulletListMarker: '-',
  });
  // Navigation bars repeat on every page and are not content.
  turndown.remove(['script', 'style', 'head']);
  turndown.addRule('navigation', {
    filter: (node) =>
      node.nodeName === 'DIV' &&
      /\bnav(header|footer)\b/.test((node as unknown as { className: string }).className),
    replacement: () => '',
  });
  const out: CorpusDocument[] = [];
  let size = 0;
  for (const file of readdirSync(PG_HTML)
    .filter((f) => f.endsWith('.html'))
    .sort()) {
    const html = readFileSync(join(PG_HTML, file), 'utf8');
    const text = turndown.turndown(html).trim();
    if (text.length < 200) continue;
    out.push({ name: `postgresql-doc-15/${file.replace(/\.html$/, '.md')}`, text });
    size += text.length;
    if (size >= budget) break;
  }
  return out;
}

function readmes(budget: number): CorpusDocument[] {
  const found: string[] = [];
  const visit = (dir: string, depth: number) => {
    for (const entry of readdirSync(dir).sort()) {
      if (entry === '.cache' || entry === '.bin') continue;
      const path = join(dir, entry);
      if (!statSync(path).isDirectory()) continue;
      const readme = ['README.md', 'readme.md', 'Readme.md'].map((r) => join(path, r)).find(existsSync);
      if (readme) found.push(readme);
      if (depth < 1 && (entry.startsWith('@') || entry === 'node_modules')) visit(path, depth + 1);
      if (existsSync(join(path, 'node_modules'))) visit(join(path, 'node_modules'), depth + 1);
    }
  };
  visit(join(ROOT, 'node_modules'), 0);
  const out: CorpusDocument[] = [];
  const seen = new Set<string>();
  let size = 0;
  for (const path of found) {
    const text = readFileSync(path, 'utf8');
    if (text.length < 500 || seen.has(text)) continue;
    seen.add(text);
    out.push({ name: path.slice(ROOT.length), text });
    size += text.length;
    if (size >= budget) break;
  }
  return out;
}

/** About `megabytes` MB of Markdown: three quarters PostgreSQL manual, one quarter npm READMEs. */
export function loadCorpus(megabytes: number): CorpusDocument[] {
  const file = join(CACHE, `chunking-corpus-${megabytes}mb.json`);
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as CorpusDocument[];
  const bytes = megabytes * 1_000_000;
  const corpus = [...pgManual(bytes * 0.75), ...readmes(bytes * 0.25)];
  mkdirSync(CACHE, { recursive: true });
  writeFileSync(file, JSON.stringify(corpus));
  return corpus;
}
