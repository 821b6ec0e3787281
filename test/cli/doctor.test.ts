/**
 * `pgembed doctor` as a user runs it (a separate process): schema, workers, pipelines and a live
 * probe of each pipeline's provider, locally on the embedded database and through a worker
 * (pgembed.test_provider()) on PostgreSQL.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgliteDatabase } from '../../src/db/pglite.js';
import { enableDocumentChunking } from '../../src/pipelines/enable.js';
import { startWorker } from '../../src/worker/worker.js';
import { runCli as pgembed } from '../support/cli.js';
import { BACKENDS, hasPostgres, openBackend } from '../support/databases.js';
import { EMULATOR_KEY, startOpenAIEmulator } from '../support/openai-emulator.js';

describe.each(BACKENDS.filter((kind) => kind === 'pglite' || hasPostgres()))(
  'pgembed doctor on %s',
  (kind) => {
    let dir: string;
    let args: string[];
    let env: Record<string, string>;
    let cleanup: () => Promise<void>;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'pgembed-doctor-'));
      const emulator = await startOpenAIEmulator();
      if (kind === 'pglite') {
        const dataDir = join(dir, 'db');
        const db = await createPgliteDatabase({ dataDir });
        await db.close();
        args = ['--data-dir', dataDir];
        env = {};
        cleanup = () => emulator.close();
        return;
      }
      if (!hasPostgres()) throw new Error('this run has no PostgreSQL server');
      const backend = await openBackend('postgres', 'doctor');
      args = [];
      env = { DATABASE_URL: backend.url! };
      cleanup = async () => {
        await emulator.close();
        await backend.cleanup();
      };
      // Used by the --via-worker test below.
      process.env.PGEMBED_DOCTOR_KEY = EMULATOR_KEY;
      await backend.db.exec(`CREATE TABLE docs (id int PRIMARY KEY, body text)`);
      await enableDocumentChunking(backend.db, {
        table: 'docs',
        column: 'body',
        provider: 'openai',
        model: 'text-embedding-3-small',
        dimensions: 16,
        baseUrl: emulator.baseUrl,
        apiKeyEnv: 'PGEMBED_DOCTOR_KEY',
      });
      const worker = await startWorker({ db: backend.db, providerTestPollMs: 100 });
      const close = cleanup;
      cleanup = async () => {
        await worker.stop();
        await close();
      };
    });
    afterAll(async () => {
      await cleanup?.();
      await rm(dir, { recursive: true, force: true });
    });

    it('reports schema, pipelines and a live probe; exits 1 when a provider fails', async () => {
      if (kind === 'postgres') {
        // Through the worker (its environment holds the key, this shell's does not).
        const viaWorker = await pgembed(['doctor', '--via-worker', '--json', ...args], env);
        expect(viaWorker.code).toBe(0);
        expect(JSON.parse(viaWorker.stdout)).toMatchObject({
          ok: true,
          providers: [
            { pipeline: 'docs', provider: 'openai', dimensions: 16, column_dimensions: 16, ok: true },
          ],
        });
        // Locally this shell has no key: the probe says so and doctor fails.
        const local = await pgembed(['doctor', ...args], { ...env, PGEMBED_DOCTOR_KEY: '' });
        expect(local.code).toBe(1);
        expect(local.stdout).toMatch(/✓ schema: migration \d+ of \d+/);
        expect(local.stdout).toContain(
          '✗ provider docs: openai text-embedding-3-small: PROVIDER_CONFIG: Environment variable PGEMBED_DOCTOR_KEY is not set',
        );
        return;
      }
      expect((await pgembed(['init', ...args], env)).code).toBe(0);
      expect((await pgembed(['doctor', ...args], env)).stdout).toContain('✓ schema');
      const db = await createPgliteDatabase({ dataDir: args[1]! });
      await db.exec(
        `CREATE TABLE docs (id int PRIMARY KEY, body text); CREATE TABLE notes (id int PRIMARY KEY, body text)`,
      );
      await enableDocumentChunking(db, { table: 'docs', column: 'body', provider: 'hash', dimensions: 16 });
      await db.close();
      const ok = await pgembed(['doctor', '--json', ...args], env);
      expect(ok.code).toBe(0);
      expect(JSON.parse(ok.stdout)).toMatchObject({
        ok: true,
        providers: [
          {
            pipeline: 'docs',
            provider: 'hash',
            dimensions: 16,
            column_dimensions: 16,
            dimensions_match: true,
          },
        ],
      });
      expect(
        (
          await pgembed(
            [
              'enable',
              'notes',
              '--column',
              'body',
              '--provider',
              'openai',
              '--api-key-env',
              'NOPE_KEY',
              ...args,
            ],
            env,
          )
        ).code,
      ).toBe(0);
      const bad = await pgembed(['doctor', ...args], env);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toContain('✓ provider docs: hash hash-v1, 16 dimensions (chunk column 16)');
      expect(bad.stdout).toContain(
        '✗ provider notes: openai text-embedding-3-small: PROVIDER_CONFIG: Environment variable NOPE_KEY is not set',
      );
      // Five CLI processes on PGlite: over a minute on a loaded 2-core machine.
    }, 240_000);
  },
);
