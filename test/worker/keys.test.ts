import { afterEach, describe, expect, it } from 'vitest';
import { enableDocumentChunking } from '../../src/pipelines/enable.js';
import { startWorker } from '../../src/worker/worker.js';
import { BACKENDS, hasPostgres, openBackend, type TestBackend } from '../support/databases.js';

// Keys a JavaScript number cannot hold: the worker must carry them exactly or the document looks deleted.
const BIG = ['9007199254740993', '1844674407370955161', '-9223372036854775808'];

describe.each(BACKENDS)('document keys on %s', (kind) => {
  let backend: TestBackend;
  afterEach(async () => backend?.cleanup());

  it('round-trips bigint, numeric and composite keys exactly, through inserts, updates and deletes', async (context) => {
    if (kind === 'postgres' && !hasPostgres()) context.skip();
    backend = await openBackend(kind, 'keys');
    const { db } = backend;
    await db.exec(`CREATE TABLE big (id bigint PRIMARY KEY, body text);
                   CREATE TABLE dec (id numeric PRIMARY KEY, body text);
                   CREATE TABLE pair (region text, id bigint, body text, PRIMARY KEY (region, id))`);
    for (const table of ['big', 'dec', 'pair']) {
      await enableDocumentChunking(db, { table, column: 'body', provider: 'hash', dimensions: 8 });
    }
    await db.query(`INSERT INTO big SELECT k::bigint, 'document ' || k FROM unnest($1::text[]) k`, [BIG]);
    await db.exec(`INSERT INTO dec VALUES (123456789012345678901234.5678, 'a decimal key'), (0.1, 'a small one');
                   INSERT INTO pair VALUES ('ü-region', 9007199254740995, 'a composite key')`);
    const worker = await startWorker({ db, pollIntervalMs: 50 });
    try {
      await worker.drain({ timeoutMs: 30_000 });
      const keys = async () => {
        const { rows } = await db.query<{ k: string }>(
          `SELECT 'big ' || doc_id AS k FROM big_chunks UNION ALL SELECT 'dec ' || doc_id FROM dec_chunks
           UNION ALL SELECT 'pair ' || doc_region || ' ' || doc_id FROM pair_chunks ORDER BY 1`,
        );
        return rows.map((row) => row.k);
      };
      expect(await keys()).toEqual([
        'big -9223372036854775808',
        'big 1844674407370955161',
        'big 9007199254740993',
        'dec 0.1',
        'dec 123456789012345678901234.5678',
        'pair ü-region 9007199254740995',
      ]);

      await db.exec(`UPDATE big SET body = 'changed' WHERE id = 9007199254740993;
                     DELETE FROM big WHERE id = 1844674407370955161;`);
      await worker.drain({ timeoutMs: 30_000 });
      const { rows } = await db.query<{ content: string }>(
        `SELECT content FROM big_chunks WHERE doc_id = 9007199254740993`,
      );
      expect(rows).toEqual([{ content: 'changed' }]);
      expect(await keys()).toHaveLength(5);
      const { rows: queue } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pgembed.queue`);
      expect(queue[0]!.n).toBe(0);
    } finally {
      await worker.stop();
    }
  });
});
