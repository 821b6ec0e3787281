import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { enableDocumentChunking } from '../../src/pipelines/enable.js';
import { createHashProvider } from '../../src/providers/hash.js';
import { startWorker, type Worker } from '../../src/worker/worker.js';
import { BACKENDS, hasPostgres, openBackend, type TestBackend } from '../support/databases.js';
import { checkInvariants } from '../support/invariants.js';
import { countingHashProvider } from '../support/providers.js';
import { sentencesAbout, TOPIC_DIMENSIONS, topicEmbedding } from './topics.js';

// Real Markdown: this project's architecture page and node-postgres' README.
const architecture = readFileSync(new URL('../../docs/architecture.md', import.meta.url), 'utf8');
const pgReadme = readFileSync(new URL('../../node_modules/pg/README.md', import.meta.url), 'utf8');

describe.each(BACKENDS)('chunking strategies in pipelines on %s', (kind) => {
  let backend: TestBackend;
  let worker: Worker | undefined;

  beforeEach(async (context) => {
    if (kind === 'postgres' && !hasPostgres()) context.skip();
    backend = await openBackend(kind, 'chunking');
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
    await backend?.cleanup();
  });

  it('lists every strategy in SQL', async () => {
    const { rows } = await backend.db.query<{ s: string[] }>(`SELECT pgembed._chunk_strategies() AS s`);
    expect(rows[0]!.s).toEqual(['token', 'sentence', 'semantic', 'markdown', 'recursive']);
  });

  it('markdown with a title column: context stored and embedded, title changes re-chunk, rechunk_document, stats', async () => {
    const { db } = backend;
    await db.exec(`CREATE TABLE pages (id int PRIMARY KEY, title text, body text)`);
    const enabled = await enableDocumentChunking(db, {
      table: 'pages',
      column: 'body',
      provider: 'hash',
      dimensions: 32,
      chunkStrategy: 'markdown',
      chunkSize: 120,
      chunkOverlap: 10,
      chunkOptions: { titleColumn: 'title' },
    });
    expect(enabled).toMatchObject({ chunk_strategy: 'markdown', chunk_options: { title_column: 'title' } });
    await db.query(
      `INSERT INTO pages VALUES (1, 'Architecture', $1), (2, 'node-postgres', $2), (3, NULL, 'plain')`,
      [architecture, pgReadme],
    );
    const { provider, texts } = countingHashProvider(32);
    worker = await startWorker({ db, providerFor: () => provider, pollIntervalMs: 50 });
    await worker.drain();
    expect(await checkInvariants(db, 'pages')).toMatchObject({ stale: [], wrongVectors: 0, orphans: 0 });

    const { rows } = await db.query<{ content: string; context: string | null; heading_path: string[] }>(
      `SELECT content, context, heading_path FROM pages_chunks WHERE doc_id = 1 ORDER BY chunk_index`,
    );
    // Content is the source span; the context (title, heading path) is in its own column and embedded ahead.
    for (const row of rows) expect(architecture.includes(row.content)).toBe(true);
    const guarantees = rows.find((row) => row.heading_path.at(-1) === 'Guarantees')!;
    expect(guarantees.context).toBe(
      'Architecture\n# Architecture: the data path in one page > ## Guarantees',
    );
    expect(texts).toContain(`${guarantees.context}\n\n${guarantees.content}`);

    // Changing only the title re-chunks (the context changed), and nothing is stale afterwards.
    texts.length = 0;
    await db.query(`UPDATE pages SET title = 'Data path' WHERE id = 1`);
    await worker.drain();
    // Every chunk's context changed, so every chunk is embedded anew, once. (The title's tokens count
    // towards the budget, so the number of chunks may differ from before.)
    const { rows: retitled } = await db.query<{ texts: number }>(
      `SELECT count(DISTINCT context || E'\n\n' || content)::int AS texts
       FROM pages_chunks WHERE doc_id = 1`,
    );
    expect(texts.length).toBe(retitled[0]!.texts);
    expect(new Set(texts).size).toBe(texts.length);
    expect(texts.every((text) => text.startsWith('Data path\n'))).toBe(true);
    expect(await checkInvariants(db, 'pages')).toMatchObject({ stale: [], wrongVectors: 0 });
    // Updating another column does not.
    await db.exec(`ALTER TABLE pages ADD COLUMN views int`);
    texts.length = 0;
    await db.query(`UPDATE pages SET views = 1`);
    await worker.drain();
    expect(texts).toEqual([]);

    // rechunk_document: one document with other settings; the rest keep the pipeline's.
    const { rows: re } = await db.query<{ r: Record<string, unknown> }>(
      `SELECT pgembed.rechunk_document('pages', 2, chunk_strategy => 'semantic', chunk_size => 60) AS r`,
    );
    expect(re[0]!.r).toMatchObject({
      pipeline: 'pages',
      document_key: [2],
      chunk_strategy: 'semantic',
      chunk_size: 60,
      chunk_overlap: 10,
      override: true,
      queued: true,
    });
    await worker.drain();
    expect(await checkInvariants(db, 'pages')).toMatchObject({ stale: [], wrongVectors: 0 });
    const maxTokens = async (id: number) =>
      (
        await db.query<{ n: number }>(
          `SELECT max(token_count)::int AS n FROM pages_chunks WHERE doc_id = $1`,
          [id],
        )
      ).rows[0]!.n;
    expect(await maxTokens(2)).toBeLessThanOrEqual(60);
    expect(await maxTokens(1)).toBeGreaterThan(60);

    // Re-chunking with unchanged settings embeds nothing new.
    texts.length = 0;
    await db.query(`SELECT pgembed.rechunk_document('pages', 1)`);
    await worker.drain();
    expect(texts).toEqual([]);

    const { rows: stats } = await db.query<Record<string, unknown>>(
      `SELECT pipeline, chunk_strategy, documents::int, chunks::int, avg_chunks_per_document::float AS per_doc,
              avg_tokens_per_chunk::float AS tokens, max_tokens_per_chunk, chunks_with_context::int,
              documents_with_own_settings::int
       FROM pgembed.chunking_stats`,
    );
    const { rows: counted } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pages_chunks`);
    expect(stats).toEqual([
      expect.objectContaining({
        pipeline: 'pages',
        chunk_strategy: 'markdown',
        documents: 3,
        chunks: counted[0]!.n,
        documents_with_own_settings: 1,
      }),
    ]);
    expect(stats[0]!.max_tokens_per_chunk).toBeLessThanOrEqual(120);
    expect(stats[0]!.chunks_with_context).toBeGreaterThan(0);
    expect(stats[0]!.per_doc).toBeCloseTo(counted[0]!.n / 3, 1);

    // Deleting the document drops its own settings with it.
    await db.query(`DELETE FROM pages WHERE id = 2`);
    await worker.drain();
    const { rows: overrides } = await db.query(`SELECT * FROM pgembed.chunk_overrides`);
    expect(overrides).toEqual([]);
  });

  it('hierarchical: sections in their own table, chunks linked to them, kept up to date', async () => {
    const { db } = backend;
    await db.exec(`CREATE TABLE guides (id int PRIMARY KEY, body text)`);
    const { rows: enabled } = await db.query<{ r: Record<string, unknown> }>(
      `SELECT pgembed.enable_hierarchical_chunking('guides', 'body',
         levels => '[{"strategy": "markdown", "chunk_size": 600}, {"strategy": "semantic", "chunk_size": 100, "chunk_overlap": 10}]',
         provider => 'hash', dimensions => 16) AS r`,
    );
    expect(enabled[0]!.r).toMatchObject({
      chunk_strategy: 'hierarchical',
      chunk_size: 100,
      chunk_overlap: 10,
      chunk_options: {
        levels: [
          { strategy: 'markdown', chunk_size: 600, chunk_overlap: 0 },
          { strategy: 'semantic', chunk_size: 100, chunk_overlap: 10 },
        ],
        sections_table: 'public.guides_sections',
      },
    });
    await db.query(`INSERT INTO guides VALUES (1, $1), (2, $2)`, [architecture, pgReadme]);
    worker = await startWorker({
      db,
      providerFor: () => createHashProvider({ dimensions: 16 }),
      pollIntervalMs: 50,
    });
    await worker.drain();
    expect(await checkInvariants(db, 'guides')).toMatchObject({ stale: [], wrongVectors: 0, orphans: 0 });

    // Every chunk lies inside its parent section; a hit widens to the section with chunk_parent().
    const { rows: linked } = await db.query<{ inside: boolean; n: number }>(
      `SELECT bool_and(c.start_char >= s.start_char AND c.end_char <= s.end_char) AS inside, count(*)::int AS n
       FROM guides_chunks c JOIN guides_sections s ON s.doc_id = c.doc_id AND s.section_index = c.parent_index`,
    );
    const { rows: all } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM guides_chunks`);
    expect(linked[0]).toEqual({ inside: true, n: all[0]!.n });
    const { rows: hit } = await db.query<{ id: string }>(
      `SELECT id::text FROM guides_chunks WHERE doc_id = 1 AND content LIKE '%At-least-once processing%'`,
    );
    const { rows: parent } = await db.query<{ heading_path: string[]; content: string }>(
      `SELECT heading_path, content FROM pgembed.chunk_parent('guides', $1)`,
      [hit[0]!.id],
    );
    expect(parent[0]!.heading_path).toEqual(['Architecture: the data path in one page', 'Guarantees']);
    expect(parent[0]!.content).toContain('Large backfills');

    // Edits and deletes keep sections and chunks in step.
    await db.query(`UPDATE guides SET body = body || E'\n\n## Appendix\n\nOne more paragraph.' WHERE id = 1`);
    await worker.drain();
    expect(await checkInvariants(db, 'guides')).toMatchObject({ stale: [], wrongVectors: 0, orphans: 0 });
    await db.query(`DELETE FROM guides WHERE id = 2`);
    const { rows: left } = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM guides_sections WHERE doc_id = 2`,
    );
    expect(left[0]!.n).toBe(0);
    await db.query(`TRUNCATE guides`);
    const { rows: none } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM guides_sections`);
    expect(none[0]!.n).toBe(0);
    await db.query(`SELECT pgembed.drop_pipeline('guides', drop_chunks => true)`);
    const { rows: tables } = await db.query(`SELECT to_regclass('guides_sections') AS t`);
    expect(tables).toEqual([{ t: null }]);
  });

  it('semantic with embedding breakpoints: the worker embeds sentences with the pipeline provider, breaks at topic changes', async () => {
    const { db } = backend;
    await db.exec(`CREATE TABLE notes (id int PRIMARY KEY, body text)`);
    const enabled = await enableDocumentChunking(db, {
      table: 'notes',
      column: 'body',
      provider: 'hash',
      dimensions: TOPIC_DIMENSIONS,
      chunkStrategy: 'semantic',
      chunkSize: 200,
      chunkOverlap: 20,
      chunkOptions: { breakpoints: 'embedding' },
    });
    expect(enabled).toMatchObject({
      chunk_strategy: 'semantic',
      chunk_options: { breakpoints: 'embedding' },
    });
    const databases = sentencesAbout('databases', 6);
    const baking = sentencesAbout('baking', 6);
    const sailing = sentencesAbout('sailing', 6);
    const two = [...databases, ...baking].join(' ');
    const other = [...sailing, ...databases].join(' ');
    await db.query(`INSERT INTO notes VALUES (1, $1), (2, $2), (3, 'One short note.'), (4, NULL)`, [
      two,
      other,
    ]);

    // The hash provider's request path with a model that sees topics (a pure function of the text).
    const inner = createHashProvider({ dimensions: TOPIC_DIMENSIONS });
    const calls: string[][] = [];
    const provider = {
      ...inner,
      embed: async (texts: readonly string[]) => {
        calls.push([...texts]);
        return texts.map(topicEmbedding);
      },
    };
    worker = await startWorker({ db, providerFor: () => provider, pollIntervalMs: 50 });
    await worker.drain();
    const check = () => checkInvariants(db, 'notes', { embed: topicEmbedding });
    expect(await check()).toMatchObject({ stale: [], lost: 0, wrongVectors: 0, orphans: 0 });

    const chunksOf = async (id: number) =>
      (
        await db.query<{ content: string; start_char: number }>(
          `SELECT content, start_char FROM notes_chunks WHERE doc_id = $1 ORDER BY chunk_index`,
          [id],
        )
      ).rows;
    // Each document fits one chunk of 200 tokens; the breaks are where the topic changes.
    expect(await chunksOf(1)).toEqual([
      { content: databases.join(' '), start_char: 0 },
      { content: baking.join(' '), start_char: two.indexOf(baking[0]!) },
    ]);
    expect((await chunksOf(2)).map((c) => c.start_char)).toEqual([0, other.indexOf(databases[0]!)]);
    // The sentences of the whole batch went to the provider in one request, each once, before the chunks.
    expect([...calls[0]!].sort()).toEqual(
      [...new Set([...databases, ...baking, ...sailing, 'One short note.'])].sort(),
    );

    // A document of its own without embedding breakpoints: boundaries only, so one chunk.
    await db.query(`SELECT pgembed.rechunk_document('notes', 1, chunk_options => '{}')`);
    await worker.drain();
    expect(await chunksOf(1)).toEqual([{ content: two, start_char: 0 }]);
    // And back, with its own percentile.
    const { rows } = await db.query<{ r: Record<string, unknown> }>(
      `SELECT pgembed.rechunk_document('notes', 1,
         chunk_options => '{"breakpoints": "embedding", "breakpoint_percentile": 50}') AS r`,
    );
    expect(rows[0]!.r).toMatchObject({
      chunk_strategy: 'semantic',
      chunk_options: { breakpoints: 'embedding', breakpoint_percentile: 50 },
    });
    await worker.drain();
    // Half the gaps are breaks now: the drop is seen one sentence either side of the change too.
    expect((await chunksOf(1)).map((c) => c.start_char)).toEqual([
      0,
      ...[databases[5]!, baking[0]!, baking[1]!].map((s) => two.indexOf(s)),
    ]);
    // Editing a document re-embeds its sentences; the check agrees with the worker throughout.
    calls.length = 0;
    await db.query(`UPDATE notes SET body = body || ' ' || $1 WHERE id = 2`, [baking.join(' ')]);
    await worker.drain();
    expect(calls[0]).toEqual([...sailing, ...databases, ...baking]);
    expect((await chunksOf(2)).map((c) => c.start_char)).toEqual([
      0,
      other.indexOf(databases[0]!),
      other.length + 1,
    ]);
    expect(await check()).toMatchObject({ stale: [], lost: 0, wrongVectors: 0, orphans: 0 });

    // Another strategy for one document needs options without the breakpoints.
    await expect(
      db.query(`SELECT pgembed.rechunk_document('notes', 2, chunk_strategy => 'sentence')`),
    ).rejects.toThrow(
      /breakpoints and breakpoint_percentile apply to the semantic strategy only, not to "sentence"/,
    );
    await db.query(
      `SELECT pgembed.rechunk_document('notes', 2, chunk_strategy => 'sentence', chunk_options => '{}')`,
    );
    await worker.drain();
    expect(await check()).toMatchObject({ stale: [], wrongVectors: 0 });
  });

  it('refuses bad breakpoint options', async () => {
    const { db } = backend;
    await db.exec(`CREATE TABLE docs (id int PRIMARY KEY, body text)`);
    const enable = (strategy: string, options: string) =>
      db.query(`SELECT pgembed.enable_document_chunking('docs', 'body', provider => 'hash', dimensions => 8,
                  chunk_strategy => '${strategy}', chunk_options => '${options}')`);
    await expect(enable('markdown', '{"breakpoints": "embedding"}')).rejects.toThrow(
      /breakpoints and breakpoint_percentile apply to the semantic strategy only, not to "markdown"/,
    );
    await expect(enable('token', '{"breakpoints": "boundaries"}')).rejects.toThrow(/semantic strategy only/);
    await expect(enable('semantic', '{"breakpoints": "topics"}')).rejects.toThrow(
      /breakpoints must be "boundaries" or "embedding" \(got "topics"\)/,
    );
    await expect(enable('semantic', '{"breakpoints": true}')).rejects.toThrow(
      /must be "boundaries" or "embedding"/,
    );
    for (const p of ['0', '100', '-1', '"90"', 'null']) {
      await expect(
        enable('semantic', `{"breakpoints": "embedding", "breakpoint_percentile": ${p}}`),
      ).rejects.toThrow(/breakpoint_percentile must be a number greater than 0 and less than 100/);
    }
    await expect(enable('semantic', '{"breakpoint_percentile": 90}')).rejects.toThrow(
      /breakpoint_percentile goes with "breakpoints": "embedding"/,
    );
    await expect(
      db.query(`SELECT pgembed.enable_hierarchical_chunking('docs', 'body', provider => 'hash', dimensions => 8,
                  chunk_options => '{"breakpoints": "embedding"}')`),
    ).rejects.toThrow(/semantic strategy only, not to "hierarchical"/);
    // Nothing was declared by the refused calls; a good one goes through, from TypeScript too.
    const result = await enableDocumentChunking(db, {
      table: 'docs',
      column: 'body',
      provider: 'hash',
      dimensions: 8,
      chunkStrategy: 'semantic',
      chunkOptions: { breakpoints: 'embedding', breakpointPercentile: 97.5 },
    });
    expect(result.chunk_options).toEqual({ breakpoints: 'embedding', breakpoint_percentile: 97.5 });
    await db.query(`INSERT INTO docs VALUES (1, 'One. Two.')`);
    await expect(
      db.query(
        `SELECT pgembed.rechunk_document('docs', 1, chunk_options => '{"breakpoint_percentile": 101}')`,
      ),
    ).rejects.toThrow(/goes with "breakpoints": "embedding"/);
    await expect(
      db.query(
        `SELECT pgembed.rechunk_document('docs', 1, chunk_options => '{"breakpoints": "embedding", "breakpoint_percentile": 101}')`,
      ),
    ).rejects.toThrow(/greater than 0 and less than 100/);
    await expect(
      db.query(`SELECT pgembed.rechunk_document('docs', 1, chunk_strategy => 'recursive')`),
    ).rejects.toMatchObject({
      message: expect.stringMatching(/semantic strategy only, not to "recursive"/),
      hint: expect.stringMatching(/re-chunk with chunk_options => '\{\}'/),
    });
  });

  it('enableDocumentChunking declares hierarchical pipelines from levels', async () => {
    const { db } = backend;
    await db.exec(`CREATE TABLE manuals (id int PRIMARY KEY, body text)`);
    const result = await enableDocumentChunking(db, {
      table: 'manuals',
      column: 'body',
      provider: 'hash',
      dimensions: 8,
      chunkStrategy: 'hierarchical',
      levels: [
        { strategy: 'markdown', chunkSize: 800, chunkOverlap: 0 },
        { strategy: 'recursive', chunkSize: 120, chunkOverlap: 20 },
      ],
    });
    expect(result).toMatchObject({ chunk_strategy: 'hierarchical', chunk_size: 120, chunk_overlap: 20 });
    await expect(
      enableDocumentChunking(db, {
        table: 'manuals',
        column: 'body',
        chunkStrategy: 'hierarchical',
        chunkSize: 100,
      }),
    ).rejects.toThrow(/takes its sizes from levels/);
  });

  it('refuses bad hierarchical levels', async () => {
    const { db } = backend;
    await db.exec(`CREATE TABLE docs (id int PRIMARY KEY, body text)`);
    const enable = (levels: string, extra = '') =>
      db.query(`SELECT pgembed.enable_hierarchical_chunking('docs', 'body', levels => '${levels}'${extra})`);
    await expect(enable('[{"strategy": "markdown", "chunk_size": 2000}]')).rejects.toThrow(
      /array of 2 levels/,
    );
    await expect(
      enable('[{"strategy": "markdown", "chunk_size": 200}, {"strategy": "semantic", "chunk_size": 400}]'),
    ).rejects.toThrow(/chunks' size \(400\) must not exceed the sections' size \(200\)/);
    await expect(
      enable('[{"strategy": "pages", "chunk_size": 2000}, {"strategy": "semantic", "chunk_size": 200}]'),
    ).rejects.toThrow(/unknown strategy "pages" in levels/);
    // The local model reads 254 word pieces: the chunks' size is held to that, the sections' is not.
    await expect(
      enable('[{"strategy": "markdown", "chunk_size": 2000}, {"strategy": "semantic", "chunk_size": 400}]'),
    ).rejects.toThrow(/chunks' chunk_size 400 exceeds the 254 tokens model "all-MiniLM-L6-v2-int8" reads/);
    await expect(
      db.query(`SELECT pgembed.enable_document_chunking('docs', 'body', chunk_strategy => 'hierarchical')`),
    ).rejects.toThrow(/needs levels/);
  });

  it('refuses bad chunking settings with errors that name the problem', async () => {
    const { db } = backend;
    await db.exec(`CREATE TABLE docs (id int PRIMARY KEY, body text, n int)`);
    const enable = (extra: Record<string, unknown>) =>
      enableDocumentChunking(db, {
        table: 'docs',
        column: 'body',
        provider: 'hash',
        dimensions: 8,
        ...extra,
      });
    await expect(enable({ chunkStrategy: 'words' })).rejects.toThrow(/unknown chunk_strategy "words"/);
    await expect(enable({ chunkOptions: { titleColumn: 'nope' } })).rejects.toThrow(
      /title_column "nope" is not a column of docs/,
    );
    await expect(enable({ chunkOptions: { titleColumn: 'n' } })).rejects.toThrow(/not a text column/);
    await expect(enable({ chunkOptions: { locale: 'not a locale' } })).rejects.toThrow(/BCP 47/);
    await expect(
      db.query(`SELECT pgembed.enable_document_chunking('docs', 'body', provider => 'hash', dimensions => 8,
                  chunk_options => '{"contxt": true}')`),
    ).rejects.toThrow(/unknown chunk option "contxt"/);

    await enable({ chunkStrategy: 'sentence' });
    await db.query(`INSERT INTO docs VALUES (1, 'One. Two.', 0)`);
    await expect(db.query(`SELECT pgembed.rechunk_document('docs', 2)`)).rejects.toThrow(
      /has no row with key \[2\]/,
    );
    await expect(db.query(`SELECT pgembed.rechunk_document('docs', '[1, 2]'::jsonb)`)).rejects.toThrow(
      /primary key of docs has 1 columns/,
    );
    await expect(
      db.query(`SELECT pgembed.rechunk_document('docs', 1, chunk_strategy => 'nope')`),
    ).rejects.toThrow(/unknown chunk_strategy "nope"/);
    await expect(db.query(`SELECT pgembed.rechunk_document('docs', 1, chunk_size => 9000)`)).rejects.toThrow(
      /chunk_size must be between 1 and the 8192 tokens/,
    );
    await expect(db.query(`SELECT pgembed.rechunk_document('pgembed.queue', 1)`)).rejects.toThrow(
      /no enabled pipeline reads table pgembed.queue/,
    );
  });
});
