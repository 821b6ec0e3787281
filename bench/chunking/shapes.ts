/**
 * Pathological document shapes for the chunking scaling benchmark (bench/chunking/scaling.ts) and the
 * scaling tests (test/chunking/scaling.test.ts): each builds a text of about `n` UTF-16 units, made
 * of one repeating unit, so doubling `n` doubles the work a linear chunker must do.
 */
export interface Shape {
  name: string;
  /** A text of at least `n` and less than `n` + one unit of UTF-16 units. */
  make(n: number): string;
}

/** Repeats `unit` until the text reaches `n` units; `head` and `tail` wrap it (a fence, a table head). */
function repeat(n: number, unit: string, head = '', tail = ''): string {
  const body = Math.max(1, Math.ceil((n - head.length - tail.length) / unit.length));
  return head + unit.repeat(body) + tail;
}

export const SHAPES: readonly Shape[] = [
  { name: 'no separators', make: (n) => 'x'.repeat(n) },
  { name: 'one huge line', make: (n) => repeat(n, 'lorem ipsum dolor sit amet, ') },
  { name: 'prose', make: (n) => repeat(n, 'The worker claims a batch. It chunks each document.\n\n') },
  { name: 'headings', make: (n) => repeat(n, '## Heading\n') },
  {
    name: 'headings with text',
    make: (n) => repeat(n, '# Part\n\nSome text.\n\n## Detail\n\nMore text.\n\n'),
  },
  {
    name: 'nested lists',
    make: (n) => {
      // Items 0–63 levels deep, down and back up, repeated.
      let unit = '';
      for (let d = 0; d < 64; d++) unit += `${'  '.repeat(d)}- item ${d}\n`;
      for (let d = 62; d > 0; d--) unit += `${'  '.repeat(d)}- item ${d}\n`;
      return repeat(n, unit);
    },
  },
  { name: 'table', make: (n) => repeat(n, '| 1 | two | 3.0 |\n', '| a | b | c |\n|---|---|---|\n') },
  { name: 'code fence', make: (n) => repeat(n, '  const x = compute(a, b); // step\n', '```ts\n', '```\n') },
  { name: 'unclosed fence', make: (n) => repeat(n, 'let y = 1;\n', '```\n') },
  { name: 'whitespace runs', make: (n) => repeat(n, `word${' '.repeat(500)}\n${'\t'.repeat(100)}\n\n\n`) },
  { name: 'indented lines', make: (n) => repeat(n, `\n${' '.repeat(1000)}x`) },
  { name: 'heading, spaces, hash', make: (n) => `# a${' '.repeat(n)}#x\n\ntext` },
  { name: 'table delimiter, spaces', make: (n) => `a|b\n|-${' '.repeat(n)}x\n` },
  { name: 'front matter title, spaces', make: (n) => `---\ntitle: a${' '.repeat(n)}b\n---\n\nbody` },
  { name: 'only whitespace then text', make: (n) => `${' '.repeat(n)}end` },
  { name: 'punctuation run', make: (n) => '-'.repeat(n) },
  { name: 'mixed punctuation', make: (n) => repeat(n, '!?.,;:…—"\'()[]{}') },
  { name: 'sentences without spaces', make: (n) => repeat(n, 'Dr.No.3.50.e.g.') },
  { name: 'combining marks', make: (n) => repeat(n, `e${'\u0301'.repeat(40)} `) },
  { name: 'combining run', make: (n) => `a${'\u0301'.repeat(n)}` },
  { name: 'zwj emoji', make: (n) => repeat(n, '👨‍👩‍👧‍👦') },
  { name: 'rtl', make: (n) => repeat(n, '\u202eשלום עולם\u202c مرحبا بالعالم. ') },
  { name: 'cjk', make: (n) => repeat(n, '日本語のテキストです。中文文本。') },
  { name: 'base64 blob', make: (n) => repeat(n, 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0123456789+/') },
];
