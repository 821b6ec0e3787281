/**
 * The per-document chunking budget: a document that takes longer than chunkingBudgetMs to chunk fails
 * alone, with CHUNKING_TIMEOUT, while the rest of its batch is embedded; a clock-free unit test of the
 * deadline itself; and the worker config's rules for the budget.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SHAPES } from '../../bench/chunking/shapes.js';
import { chunk, chunkingDeadline } from '../../src/chunking/index.js';
import { enableDocumentChunking } from '../../src/pipelines/enable.js';
import { resolveWorkerConfig } from '../../src/worker/config.js';
import { startWorker, type Worker } from '../../src/worker/worker.js';
import { openBackend, type TestBackend } from '../support/databases.js';

describe('chunkingDeadline', () => {
  it('stops every strategy once the clock passes the budget, naming the document and what to do', () => {
    for (const strategy of ['token', 'sentence', 'semantic', 'markdown', 'recursive'] as const) {
      let clock = 0;
      // Each check advances a fake clock by 1 ms: a 10 ms budget allows ten units of work.
      const deadline = chunkingDeadline(
        10,
        () => 'document 7 (1 character)',
        () => clock++,
      );
      const text = SHAPES.find((s) => s.name === 'prose')!.make(200_000);
      expect(() => chunk(text, { strategy, chunkSize: 50, chunkOverlap: 0, deadline })).toThrowError(
        expect.objectContaining({
          code: 'CHUNKING_TIMEOUT',
          kind: 'permanent',
          message: expect.stringMatching(
            /document 7 .*10 ms budget.*cheaper strategy.*split the document.*chunkingBudgetMs/,
          ),
        }),
      );
    }
  });
});

describe('worker config', () => {
  it('defaults the budget to a quarter of the lease and refuses one over half of it', () => {
    expect(resolveWorkerConfig().chunkingBudgetMs).toBe(15_000);
    expect(resolveWorkerConfig({ leaseMs: 300_000 }).chunkingBudgetMs).toBe(75_000);
    expect(resolveWorkerConfig({ chunkingBudgetMs: 2_000 }).chunkingBudgetMs).toBe(2_000);
    expect(() => resolveWorkerConfig({ chunkingBudgetMs: 40_000 })).toThrowError(/at most half of leaseMs/);
  });
});

describe('a document over the chunking budget, on PGlite', () => {
  let backend: TestBackend | undefined;
  let worker: Worker | undefined;
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    await backend?.cleanup();
  });

  it('fails alone with CHUNKING_TIMEOUT while the rest of the batch is embedded', async () => {
    backend = await openBackend('pglite', 'chunk_budget');
    const { db } = backend;
    await db.exec(`CREATE TABLE docs (id int PRIMARY KEY, body text)`);
    await enableDocumentChunking(db, {
      table: 'docs',
      column: 'body',
      provider: 'hash',
      dimensions: 8,
      chunkStrategy: 'markdown',
    });
    // 2 MB of lines of blanks: seconds to chunk anywhere; the small documents take well under 1 ms.
    const slow = SHAPES.find((s) => s.name === 'indented lines')!.make(2_000_000);
    await db.query(`INSERT INTO docs VALUES (1, 'A short note.'), (2, $1), (3, '# Title\n\nAnother one.')`, [
      slow,
    ]);
    worker = await startWorker({ db, pollIntervalMs: 50, chunkingBudgetMs: 300 });
    await worker.drain({ timeoutMs: 120_000 });
    const { rows: jobs } = await db.query<{
      doc_key: string;
      status: string;
      code: string | null;
      error: string | null;
    }>(
      `SELECT doc_key::text, status, last_error_code AS code, last_error AS error FROM pgembed.queue ORDER BY doc_key`,
    );
    expect(jobs.map(({ doc_key, status, code }) => ({ doc_key, status, code }))).toEqual([
      { doc_key: expect.stringContaining('2'), status: 'failed', code: 'CHUNKING_TIMEOUT' },
    ]);
    expect(jobs[0]!.error).toMatch(
      /document .*2.* \(2,00\d,\d{3} characters, strategy markdown\) took more than its 300 ms budget/,
    );
    const { rows: chunks } = await db.query<{ doc_id: number; n: number }>(
      `SELECT doc_id, count(*)::int AS n FROM docs_chunks GROUP BY doc_id ORDER BY doc_id`,
    );
    expect(chunks).toEqual([
      { doc_id: 1, n: 1 },
      { doc_id: 3, n: 1 },
    ]);
  }, 180_000);
});
