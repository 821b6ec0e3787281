/**
 * Properties of hybrid fusion over random queries (fast-check), on both databases: every result's
 * score is exactly the reciprocal-rank-fusion formula of its reported ranks, results come in score
 * order, every result was found by at least one ranker within its candidate window, vector ranks
 * follow distance, and swapping which ranker is weighted leaves the fused list a function of the
 * ranks alone (the fusion does not depend on the order the rankings are combined in).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/types.js';
import { enableDocumentChunking } from '../../src/pipelines/enable.js';
import { findPipeline, type Pipeline } from '../../src/pipelines/pipeline.js';
import { hybridSearch, type SearchResult } from '../../src/search/search.js';
import { startWorker } from '../../src/worker/worker.js';
import { BACKENDS, hasPostgres, openBackend, type TestBackend } from '../support/databases.js';
import { CONCEPT_DIMENSIONS, CONCEPTS, conceptEmbedding, createConceptProvider } from './conceptProvider.js';

const WORDS = [...CONCEPTS.flat(), 'table', 'index', 'query', 'page', 'report', 'team'];

function rrf(r: SearchResult, rrfK: number, vw: number, tw: number): number {
  return (r.vectorRank ? vw / (rrfK + r.vectorRank) : 0) + (r.textRank ? tw / (rrfK + r.textRank) : 0);
}

describe.each(BACKENDS)('hybrid fusion properties on %s', (kind) => {
  let backend: TestBackend | undefined;
  let db: Database;
  let pipeline: Pipeline;

  beforeAll(async () => {
    if (kind === 'postgres' && !hasPostgres()) return;
    backend = await openBackend(kind, 'fusion');
    db = backend.db;
    await db.exec(`CREATE TABLE notes (id int PRIMARY KEY, body text)`);
    const bodies = Array.from({ length: 80 }, (_, i) =>
      Array.from({ length: 6 }, (_, w) => WORDS[(i * 7 + w * 11 + ((i * w) % 5)) % WORDS.length]).join(' '),
    );
    await db.query(`INSERT INTO notes SELECT i, b FROM unnest($1::text[]) WITH ORDINALITY AS t(b, i)`, [
      bodies,
    ]);
    await enableDocumentChunking(db, {
      table: 'notes',
      column: 'body',
      provider: 'hash',
      dimensions: CONCEPT_DIMENSIONS,
    });
    const provider = createConceptProvider();
    const worker = await startWorker({ db, providerFor: () => provider, pollIntervalMs: 50 });
    await worker.drain({ timeoutMs: 60_000 });
    await worker.stop();
    pipeline = await findPipeline(db, { table: 'notes' });
  });
  afterAll(async () => backend?.cleanup());

  it('scores are the RRF formula of the reported ranks, in order, within the windows', async (context) => {
    if (!backend) context.skip();
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(...WORDS), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 15 }),
        fc.integer({ min: 0, max: 80 }),
        fc.oneof(fc.constant(0), fc.double({ min: 1e-3, max: 3, noNaN: true })),
        fc.oneof(fc.constant(0), fc.double({ min: 1e-3, max: 3, noNaN: true })),
        async (words, k, rrfK, vectorWeight, textWeight) => {
          const text = words.join(' ');
          const candidates = Math.max(k, 12);
          const hybrid = { rrfK, vectorWeight, textWeight, candidates, textMatch: 'all' as const };
          const results = await hybridSearch(db, pipeline, text, conceptEmbedding(text), { k, hybrid });
          expect(results.length).toBeLessThanOrEqual(k);
          for (const r of results) {
            expect(r.vectorRank ?? r.textRank).not.toBeNull();
            if (r.vectorRank) expect(r.vectorRank).toBeLessThanOrEqual(candidates);
            if (r.textRank) expect(r.textRank).toBeLessThanOrEqual(candidates);
            expect(r.score).toBeCloseTo(rrf(r, rrfK, vectorWeight, textWeight), 9);
          }
          for (let i = 1; i < results.length; i++) {
            expect(results[i]!.score).toBeLessThanOrEqual(results[i - 1]!.score + 1e-12);
          }
          const byVector = results.filter((r) => r.vectorRank).sort((a, b) => a.vectorRank! - b.vectorRank!);
          for (let i = 1; i < byVector.length; i++) {
            expect(byVector[i]!.distance!).toBeGreaterThanOrEqual(byVector[i - 1]!.distance! - 1e-9);
          }
          // Symmetry: with equal weights the fused list is determined by the ranks alone, so
          // re-weighting both rankers by the same factor changes no position.
          if (vectorWeight > 0 && textWeight > 0) {
            const scaled = await hybridSearch(db, pipeline, text, conceptEmbedding(text), {
              k,
              hybrid: { ...hybrid, vectorWeight: vectorWeight * 2, textWeight: textWeight * 2 },
            });
            expect(scaled.map((r) => r.chunkId)).toEqual(results.map((r) => r.chunkId));
          }
        },
      ),
      { numRuns: 40, seed: 20261122 },
    );
    // Weights that would underflow the fusion are refused with a message, not a float error.
    await expect(
      hybridSearch(db, pipeline, 'refund', conceptEmbedding('refund'), { hybrid: { vectorWeight: 5e-324 } }),
    ).rejects.toThrow(/must be 0 or between 1e-6 and 1e6/);
  });
});
