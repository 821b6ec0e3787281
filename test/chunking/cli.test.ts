/** `pgembed enable` with semantic breakpoint options, as a separate process on the embedded database. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgliteDatabase } from '../../src/db/pglite.js';
import { runCli } from '../support/cli.js';

describe('pgembed enable --breakpoints', () => {
  let dir: string;
  let dataDir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pgembed-breakpoints-'));
    dataDir = join(dir, 'db');
    const db = await createPgliteDatabase({ dataDir });
    await db.exec(`CREATE TABLE notes (id int PRIMARY KEY, body text)`);
    await db.close();
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  const enable = (...args: string[]) =>
    runCli([
      'enable',
      'notes',
      '--column',
      'body',
      '--provider',
      'hash',
      '--dimensions',
      '8',
      '--data-dir',
      dataDir,
      '--json',
      ...args,
    ]);

  it('stores them with a semantic pipeline, and refuses bad ones with the reason', async () => {
    const percentile = await enable(
      '--strategy',
      'semantic',
      '--breakpoints',
      'embedding',
      '--breakpoint-percentile',
      '101',
    );
    expect(percentile.code).toBe(2);
    expect(percentile.stderr).toContain(
      "argument '101' is invalid. --breakpoint-percentile must be a number greater than 0 and less than 100.",
    );

    const markdown = await enable('--strategy', 'markdown', '--breakpoints', 'embedding');
    expect(markdown.code).toBe(1);
    expect(JSON.parse(markdown.stdout).error.message).toBe(
      'pgembed: chunk options breakpoints and breakpoint_percentile apply to the semantic strategy only, not to "markdown"',
    );

    const ok = await enable(
      '--strategy',
      'semantic',
      '--breakpoints',
      'embedding',
      '--breakpoint-percentile',
      '90',
    );
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({
      chunk_strategy: 'semantic',
      chunk_options: { breakpoints: 'embedding', breakpoint_percentile: 90 },
    });
  });
});
