import { readdirSync, readFileSync } from 'node:fs';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { createPgembed } from '../index.js';
import { fail, parseInteger } from './common.js';
import { formatResults } from './search.js';

const ROOT = new URL('../../', import.meta.url);
const QUESTIONS = [
  'How do I keep my table embedded automatically?',
  'What happens when a worker crashes in the middle of a batch?',
  'How do I search from TypeScript?',
];

/** The corpus: the project's own Markdown documentation, shipped in the package. */
function loadCorpus(): { path: string; body: string }[] {
  const files = [
    'README.md',
    ...readdirSync(new URL('docs/', ROOT))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ];
  return files.map((path) => ({ path, body: readFileSync(new URL(path, ROOT), 'utf8') }));
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      "offline demo: embed pgembed's own docs in an in-memory database with the local model, then search",
    )
    .option('--data-dir <dir>', 'keep the demo database in this directory instead of memory')
    .option('-k, --k <n>', 'results per question', parseInteger('-k', 1, 20), 3)
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nExamples:\n  $ pgembed demo\n  $ pgembed demo --data-dir ./demo-db   # then: pgembed search "…" --table docs --data-dir ./demo-db',
    )
    .action(async (options: { dataDir?: string; k: number; json?: boolean }) => {
      try {
        await runDemo(options);
      } catch (error) {
        fail(error, options.json);
      }
    });
}

async function runDemo(options: { dataDir?: string; k: number; json?: boolean }): Promise<void> {
  const log = (line: string) => {
    if (!options.json) process.stdout.write(`${line}\n`);
  };
  const began = performance.now();
  const pg = await createPgembed({ databaseUrl: undefined, dataDir: options.dataDir ?? 'memory://' });
  try {
    const corpus = loadCorpus();
    await pg.db.exec(`CREATE TABLE IF NOT EXISTS docs (path text PRIMARY KEY, body text NOT NULL)`);
    for (const doc of corpus) {
      await pg.db.query(
        `INSERT INTO docs (path, body) VALUES ($1, $2) ON CONFLICT (path) DO UPDATE SET body = excluded.body`,
        [doc.path, doc.body],
      );
    }
    const { rows: existing } = await pg.db.query(`SELECT 1 FROM pgembed.pipelines WHERE name = 'docs'`);
    if (existing.length === 0)
      await pg.enable({ table: 'docs', column: 'body', provider: 'local', chunkStrategy: 'markdown' });
    log(
      `${corpus.length} documents from pgembed's docs in table "docs"; embedding with all-MiniLM-L6-v2 (offline)…`,
    );

    const total = await queueDepth(pg.db);
    const bar = options.json
      ? undefined
      : new cliProgress.SingleBar(
          { format: '  {bar} {value}/{total} documents | {chunks} chunks', hideCursor: true },
          cliProgress.Presets.shades_classic,
        );
    bar?.start(total, 0, { chunks: 0 });
    const worker = await pg.startWorker({ batchSize: 4, pollIntervalMs: 200 });
    let documents = 0;
    let chunks = 0;
    worker.events.on('batch:written', (e) => {
      documents += e.documents;
      chunks += e.chunksInserted;
      bar?.update(documents, { chunks });
    });
    await worker.drain({ timeoutMs: 600_000 });
    await worker.stop();
    bar?.stop();

    const answers = [];
    for (const question of QUESTIONS) {
      const results = await pg.search(question, { table: 'docs', k: options.k });
      answers.push({ question, results });
      log(`\nQ: ${question}\n${formatResults(results)}`);
    }
    const seconds = (performance.now() - began) / 1000;
    if (options.json)
      process.stdout.write(`${JSON.stringify({ documents: corpus.length, chunks, seconds, answers })}\n`);
    else
      log(
        `\nDone in ${seconds.toFixed(1)} s. Try your own: pgembed demo --data-dir ./demo-db, then pgembed search "…" --table docs --data-dir ./demo-db`,
      );
  } finally {
    await pg.close();
  }
}

async function queueDepth(db: { query: <R>(sql: string) => Promise<{ rows: R[] }> }): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT pending::int AS n FROM pgembed.queue_status WHERE pipeline = 'docs'`,
  );
  return rows[0]?.n ?? 0;
}
