/**
 * The schema check of `pgembed doctor` (diagnose()), on the embedded database: a schema of another
 * version than the code's is reported, with the step that fixes it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMigrations } from '../../src/db/migrate.js';
import { listPipelines } from '../../src/pipelines/pipeline.js';
import { providerConfigOf } from '../../src/pipelines/provider.js';
import { diagnose } from '../../src/providers/diagnose.js';
import { createProvider } from '../../src/providers/index.js';
import { openBackend, type TestBackend } from '../support/databases.js';

describe('doctor schema check on pglite', () => {
  let backend: TestBackend;
  const shipped = loadMigrations().at(-1)!.id;
  beforeAll(async () => {
    backend = await openBackend('pglite', 'diagnose');
  });
  afterAll(async () => backend?.cleanup());

  const schemaCheck = async (installedVersion: number) => {
    const report = await diagnose(backend.db, {
      via: 'local',
      timeoutMs: 1_000,
      shippedVersion: shipped,
      installedVersion,
      providerFor: (pipeline) => createProvider(providerConfigOf(pipeline)),
      listPipelines,
    });
    return report.checks.find((check) => check.name === 'schema');
  };

  it('passes the schema this code ships, and flags an older or a newer one with its fix', async () => {
    expect(await schemaCheck(shipped)).toMatchObject({ ok: true });
    expect(await schemaCheck(shipped - 1)).toMatchObject({
      ok: false,
      hint: 'run `pgembed init` to upgrade',
    });
    expect(await schemaCheck(shipped + 1)).toMatchObject({
      ok: false,
      hint: expect.stringContaining('newer than this pgembed'),
    });
  });
});
