/**
 * The two fences of write-back, driven step by step: a worker whose lease expired (and was taken
 * over) writes nothing, and a worker whose document changed since it read it writes nothing.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPostgresDatabase } from '../../src/db/postgres.js';
import { enableDocumentChunking } from '../../src/pipelines/enable.js';
import { findPipeline, type Pipeline } from '../../src/pipelines/pipeline.js';
import { createHashProvider } from '../../src/providers/hash.js';
import type { EmbeddingProvider } from '../../src/providers/types.js';
import { claimJobs } from '../../src/sql/queries/claimJobs.js';
import { recoverExpiredLeases } from '../../src/sql/queries/recoverExpiredLeases.js';
import { processBatch } from '../../src/worker/batch.js';
import { WorkerEvents } from '../../src/worker/events.js';
import { startWorker } from '../../src/worker/worker.js';
import { BACKENDS, hasPostgres, openBackend, type TestBackend } from '../support/databases.js';
import { checkInvariants } from '../support/invariants.js';

/** A real hash provider that holds each call until released: the "slow provider call" of a worker. */
function gatedProvider(model: string) {
  const inner = createHashProvider({ dimensions: 32, model });
  let release!: () => void;
  let entered!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const inCall = new Promise<void>((resolve) => {
    entered = resolve;
  });
  const provider: EmbeddingProvider = {
    name: inner.name,
    model: inner.model,
    dimensions: inner.dimensions,
    maxBatchSize: inner.maxBatchSize,
    maxInputTokens: inner.maxInputTokens,
    embed: async (texts, options) => {
      entered();
      await gate;
      return inner.embed(texts, options);
    },
  };
  return { provider, release, inCall };
}

describe.each(BACKENDS)('write-back fencing on %s', (kind) => {
  let backend: TestBackend;
  let pipeline: Pipeline;

  beforeEach(async (context) => {
    if (kind === 'postgres' && !hasPostgres()) context.skip();
    backend = await openBackend(kind, 'fencing');
    await backend.db.exec(`CREATE TABLE docs (id int PRIMARY KEY, body text)`);
    await backend.db.query(`INSERT INTO docs VALUES (1, 'the first version of the document')`);
    await enableDocumentChunking(backend.db, {
      table: 'docs',
      column: 'body',
      provider: 'hash',
      dimensions: 32,
    });
    pipeline = await findPipeline(backend.db, { pipeline: 'docs' });
  });
  afterEach(async () => backend?.cleanup());

  const run = (provider: EmbeddingProvider, jobs: Awaited<ReturnType<typeof claimJobs>>, lease: string) =>
    processBatch({
      db: backend.db,
      pipeline,
      provider,
      jobs,
      lease,
      events: new WorkerEvents(),
      signal: new AbortController().signal,
    });

  const claim = async (lease: string) =>
    claimJobs(backend.db, {
      pipeline: 'docs',
      limit: 10,
      lease,
      leaseMs: 60_000,
      workerId: lease.slice(0, 8),
    });

  it('a worker whose lease expired and was taken over writes nothing', async () => {
    const leaseA = randomUUID();
    const jobsA = await claim(leaseA);
    expect(jobsA).toHaveLength(1);
    // Worker A uses a different model name, so anything it wrote would show in the vectors.
    const a = gatedProvider('hash-late-writer');
    const late = run(a.provider, jobsA, leaseA);
    await a.inCall;

    // A stalls past its lease; recovery hands the job to worker B, which completes it.
    await backend.db.query(`UPDATE pgembed.queue SET leased_until = now() - interval '1 second'`);
    expect(await recoverExpiredLeases(backend.db)).toBe(1);
    const leaseB = randomUUID();
    const jobsB = await claim(leaseB);
    expect(jobsB).toHaveLength(1);
    const resultB = await run(createHashProvider({ dimensions: 32 }), jobsB, leaseB);
    expect(resultB.completed).toHaveLength(1);
    const { rows: before } = await backend.db.query(
      `SELECT id, embedding::text FROM docs_chunks ORDER BY id`,
    );

    a.release();
    const resultA = await late;
    expect(resultA.completed).toEqual([]);
    expect(resultA.written).toBe(0);
    const { rows: after } = await backend.db.query(`SELECT id, embedding::text FROM docs_chunks ORDER BY id`);
    expect(after).toEqual(before);
    expect(await checkInvariants(backend.db, 'docs')).toMatchObject({
      stale: [],
      wrongVectors: 0,
      orphans: 0,
      processing: 0,
    });
  });

  it('a worker whose document changed since it read it writes nothing; the newer job wins', async () => {
    const leaseA = randomUUID();
    const jobsA = await claim(leaseA);
    const a = gatedProvider('hash-v1');
    const stale = run(a.provider, jobsA, leaseA);
    await a.inCall;
    await backend.db.query(
      `UPDATE docs SET body = 'the second version, committed while the worker embedded the first' WHERE id = 1`,
    );

    a.release();
    const resultA = await stale;
    expect(resultA).toMatchObject({ written: 0, stale: 1 });
    expect(resultA.completed).toHaveLength(1);
    const { rows: none } = await backend.db.query(`SELECT 1 FROM docs_chunks`);
    expect(none).toEqual([]);

    const leaseB = randomUUID();
    const jobsB = await claim(leaseB);
    expect(jobsB).toHaveLength(1);
    await run(createHashProvider({ dimensions: 32 }), jobsB, leaseB);
    expect(await checkInvariants(backend.db, 'docs')).toMatchObject({
      stale: [],
      wrongVectors: 0,
      orphans: 0,
      processing: 0,
    });
    const { rows } = await backend.db.query<{ content: string }>(`SELECT content FROM docs_chunks`);
    expect(rows[0]!.content).toContain('second version');
  });
});

describe.skipIf(!hasPostgres())('a change absorbed by a pending job on postgres', () => {
  it('is never lost when a worker claims that job before the change commits', async () => {
    const backend = await openBackend('postgres', 'absorbed');
    const writer = createPostgresDatabase({ connectionString: backend.url!, max: 1 });
    try {
      const { db } = backend;
      await db.exec(`CREATE TABLE docs (id int PRIMARY KEY, body text)`);
      await enableDocumentChunking(db, { table: 'docs', column: 'body', provider: 'hash', dimensions: 32 });
      await db.query(`INSERT INTO docs VALUES (1, 'first version')`); // job pending, not yet claimed
      const pipeline = await findPipeline(db, { pipeline: 'docs' });

      let release!: () => void;
      const released = new Promise<void>((resolve) => {
        release = resolve;
      });
      let updated!: () => void;
      const updateDone = new Promise<void>((resolve) => {
        updated = resolve;
      });
      // The writer changes the document (its trigger finds the pending job) but has not committed.
      const transaction = writer.transaction(async (tx) => {
        await tx.query(`UPDATE docs SET body = 'second version' WHERE id = 1`);
        updated();
        await released;
      });
      await updateDone;

      // A worker claims now, and processes what it got before the writer commits.
      const lease = randomUUID();
      const jobs = await claimJobs(db, {
        pipeline: 'docs',
        limit: 10,
        lease,
        leaseMs: 60_000,
        workerId: 'w',
      });
      // The race in the title needs the claim: the INSERT's entry committed, so its job must be due.
      expect(jobs.map((job) => job.docKey)).toEqual([JSON.stringify([1])]);
      await processBatch({
        db,
        pipeline,
        provider: createHashProvider({ dimensions: 32 }),
        jobs,
        lease,
        events: new WorkerEvents(),
        signal: new AbortController().signal,
      });
      release();
      await transaction;

      const worker = await startWorker({
        db,
        providerFor: () => createHashProvider({ dimensions: 32 }),
        pollIntervalMs: 50,
      });
      await worker.drain();
      await worker.stop();
      expect(await checkInvariants(db, 'docs')).toMatchObject({ stale: [], orphans: 0, processing: 0 });
      const { rows } = await db.query<{ content: string }>(`SELECT content FROM docs_chunks`);
      expect(rows).toEqual([{ content: 'second version' }]);
    } finally {
      await writer.close();
      await backend.cleanup();
    }
  });
});
