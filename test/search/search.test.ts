import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPgembed, type Pgembed } from '../../src/index.js';

describe('search on the embedded database', () => {
  let pg: Pgembed;

  beforeEach(async () => {
    pg = await createPgembed({ dataDir: 'memory://' });
    await pg.db.exec(`CREATE TABLE notes (id int PRIMARY KEY, body text)`);
    await pg.db.query(
      `INSERT INTO notes VALUES (1, 'alpha beta gamma'), (2, 'delta epsilon'), (3, 'zeta eta theta'), (4, NULL)`,
    );
    await pg.enable({ table: 'notes', column: 'body', provider: 'hash', dimensions: 32 });
    const worker = await pg.startWorker({ pollIntervalMs: 50 });
    await worker.drain();
    await worker.stop();
  });
  afterEach(async () => pg?.close());

  it('ranks the chunk whose text is the query first, with its key, offsets and a score', async () => {
    // The hash provider maps equal texts to equal vectors: the exact text is the nearest neighbour.
    const results = await pg.search('delta epsilon', { table: 'notes', k: 2 });
    expect(results).toHaveLength(2);
    expect(results[0]).toMatchObject({
      documentKey: [2],
      chunkIndex: 0,
      content: 'delta epsilon',
      startChar: 0,
      endChar: 13,
    });
    expect(results[0]!.score).toBeCloseTo(1, 5);
    expect(results[1]!.score).toBeLessThan(results[0]!.score);
  });

  it('validates its input with messages that say what to do', async () => {
    await expect(pg.search('', { table: 'notes' })).rejects.toThrow(/non-empty string/);
    await expect(pg.search('x', { table: 'notes', k: 0 })).rejects.toThrow(
      /k must be an integer between 1 and 1000/,
    );
    await expect(pg.search('x', { table: 'nope' })).rejects.toThrow(/no pipeline reads table "nope"/);
    await expect(pg.search('x', { pipeline: 'nope' })).rejects.toThrow(/no pipeline named "nope"/);
    await expect(pg.search('x', {})).rejects.toThrow(/give a pipeline name or a table/);
  });

  it('filters by minimum score', async () => {
    const results = await pg.search('alpha beta gamma', { table: 'notes', k: 3, minScore: 0.99 });
    expect(results.map((r) => r.documentKey)).toEqual([[1]]);
  });
});
