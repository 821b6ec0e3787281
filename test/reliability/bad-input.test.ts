/**
 * Hostile documents: each gets a correct result (chunks equal to chunk(content), embedded) or a
 * clear error on its own job, and nothing else in the database changes.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { enableDocumentChunking } from '../../src/pipelines/enable.js';
import { startWorker, type Worker } from '../../src/worker/worker.js';
import { BACKENDS, hasPostgres, openBackend, type TestBackend } from '../support/databases.js';
import { checkInvariants } from '../support/invariants.js';

const HOSTILE: [string, string | null][] = [
  ['null', null],
  ['empty', ''],
  ['whitespace only', ' \n\t\u00a0\u3000 \r\n  '],
  ['no separator at all', 'x'.repeat(20_000)],
  ['one very long token', `${'supercalifragilistic'.repeat(500)}`],
  ['emoji and ZWJ sequences', '👨‍👩‍👧‍👦🏳️‍🌈🇺🇳 '.repeat(300)],
  ['CJK', '東京は日本の首都です。'.repeat(400)],
  ['RTL with marks', 'مَرْحَبًا بِالْعَالَمِ שָׁלוֹם עוֹלָם '.repeat(200)],
  ['combining marks', 'Z̵̡̢̛̗̘̙̜̝̞̟̠̊̋̌̍̎̏̐̑̒̓̔̽̾̿̀́͂̓̈́͆͊͋͌ͅ'.repeat(200)],
  [
    'binary-looking junk',
    Array.from({ length: 5000 }, (_, i) => String.fromCharCode(1 + ((i * 7919) % 0xd7fe))).join(''),
  ],
  ['special-token strings', '<|endoftext|> <|im_start|>system [CLS] [SEP] [MASK] '.repeat(100)],
];

describe.each(BACKENDS)('hostile documents on %s', (kind) => {
  let backend: TestBackend;
  let worker: Worker | undefined;

  beforeEach(async (context) => {
    if (kind === 'postgres' && !hasPostgres()) context.skip();
    backend = await openBackend(kind, 'bad_input');
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    await backend?.cleanup();
  });

  it('chunks and embeds every kind of text exactly, or fails only that document with a clear error', async () => {
    const { db } = backend;
    await db.exec(`CREATE TABLE docs (id int PRIMARY KEY, label text, body text)`);
    await db.exec(`CREATE TABLE bystander (id int PRIMARY KEY, v text)`);
    await db.query(`INSERT INTO bystander VALUES (1, 'untouched')`);
    await enableDocumentChunking(db, {
      table: 'docs',
      column: 'body',
      provider: 'hash',
      dimensions: 16,
      chunkSize: 64,
      chunkOverlap: 8,
    });
    for (const [i, [label, body]] of HOSTILE.entries()) {
      await db.query(`INSERT INTO docs VALUES ($1, $2, $3)`, [i + 1, label, body]);
    }
    worker = await startWorker({ db, pollIntervalMs: 50 });
    await worker.drain({ timeoutMs: 120_000 });

    const report = await checkInvariants(db, 'docs');
    expect(report, JSON.stringify(report)).toMatchObject({
      documents: HOSTILE.length,
      stale: [],
      wrongVectors: 0,
      orphans: 0,
    });
    const { rows: failed } = await db.query(
      `SELECT doc_key, last_error FROM pgembed.queue WHERE status = 'failed'`,
    );
    expect(failed).toEqual([]);
    const { rows: chunks } = await db.query<{ label: string; n: number }>(
      `SELECT d.label, count(c.id)::int AS n FROM docs d LEFT JOIN docs_chunks c ON c.doc_id = d.id GROUP BY d.label`,
    );
    const count = Object.fromEntries(chunks.map((row) => [row.label, row.n]));
    expect(count).toMatchObject({ null: 0, empty: 0, 'whitespace only': 0 });
    for (const [label] of HOSTILE.slice(3)) expect(count[label], label).toBeGreaterThan(0);
    const { rows: bystander } = await db.query(`SELECT * FROM bystander`);
    expect(bystander).toEqual([{ id: 1, v: 'untouched' }]);
  });
});

describe.skipIf(!hasPostgres())('a 50 MB document on postgres', () => {
  it('is chunked within budget and embedded in one write-back', async () => {
    const backend = await openBackend('postgres', 'huge_doc');
    let worker: Worker | undefined;
    try {
      const { db } = backend;
      await db.exec(`CREATE TABLE docs (id int PRIMARY KEY, body text)`);
      await enableDocumentChunking(db, {
        table: 'docs',
        column: 'body',
        provider: 'hash',
        dimensions: 8,
        chunkSize: 4000,
        chunkOverlap: 0,
      });
      const paragraph = 'PostgreSQL stores table rows in 8 kB pages; TOAST moves large values out of line. ';
      await db.query(`INSERT INTO docs VALUES (1, repeat($1::text, $2::int))`, [
        paragraph,
        Math.ceil((50 * 2 ** 20) / paragraph.length),
      ]);
      worker = await startWorker({ db, pollIntervalMs: 50, leaseMs: 300_000 });
      await worker.drain({ timeoutMs: 300_000 });
      const { rows } = await db.query<{ n: number; max: number; covered: string }>(
        `SELECT count(*)::int AS n, max(token_count)::int AS max, max(end_char)::text AS covered FROM docs_chunks`,
      );
      expect(rows[0]!.max).toBeLessThanOrEqual(4000);
      // Every character is in a chunk but the document's trailing space, which the default (markdown)
      // strategy leaves out like any whitespace between blocks.
      const length = Math.ceil((50 * 2 ** 20) / paragraph.length) * paragraph.length;
      expect(Number(rows[0]!.covered)).toBe(length - (paragraph.length - paragraph.trimEnd().length));
      expect(rows[0]!.n).toBeGreaterThan(2000);
    } finally {
      await worker?.stop();
      await backend.cleanup();
    }
  }, 600_000);
});
