/**
 * pgembed: turn any PostgreSQL table into a continuously maintained, searchable embedding corpus.
 *
 * @example
 * ```ts
 * import { createPgembed } from 'pgembed';
 * const pg = await createPgembed();            // embedded database in ./.pgembed (or DATABASE_URL)
 * await pg.db.exec(`CREATE TABLE notes (id serial PRIMARY KEY, body text)`);
 * await pg.enable({ table: 'notes', column: 'body' });
 * await pg.db.query(`INSERT INTO notes (body) VALUES ($1)`, ['PostgreSQL stores rows in heap pages.']);
 * const worker = await pg.startWorker();
 * await worker.drain();
 * console.log(await pg.search('where are rows stored?', { table: 'notes', k: 3 })); // hybrid by default
 * await worker.stop();
 * await pg.close();
 * ```
 */
import { type ConnectOptions, connect } from './db/connect.js';
import { checkSchema, migrate } from './db/migrate.js';
import type { Database } from './db/types.js';
import { type EnableOptions, type EnableResult, enableDocumentChunking } from './pipelines/enable.js';
import type { Pipeline } from './pipelines/pipeline.js';
import { providerConfigOf } from './pipelines/provider.js';
import { createProvider } from './providers/index.js';
import type { EmbeddingProvider } from './providers/types.js';
import { type SearchOptions, type SearchResult, search } from './search/search.js';
import { startWorker, type Worker, type WorkerOptions } from './worker/worker.js';

export interface Pgembed {
  readonly db: Database;
  enable(options: EnableOptions): Promise<EnableResult>;
  search(query: string, options: SearchOptions): Promise<SearchResult[]>;
  startWorker(options?: Omit<WorkerOptions, 'db'>): Promise<Worker>;
  close(): Promise<void>;
}

export interface CreatePgembedOptions extends ConnectOptions {
  /**
   * Install or upgrade the `pgembed` schema (default true): for the database owner. With `false`
   * the schema is only checked, never changed: for roles such as `pgembed_worker` that may not
   * change it, which get SCHEMA_NOT_INSTALLED, SCHEMA_OUTDATED or SCHEMA_TOO_NEW unless the owner
   * ran `pgembed init` with this version.
   */
  migrate?: boolean;
}

/**
 * Connects (server URL, or the embedded database when none is given), installs or upgrades the
 * `pgembed` schema (or, with `migrate: false`, checks it), and returns the library's entry points
 * bound to that database.
 */
export async function createPgembed(options: CreatePgembedOptions = {}): Promise<Pgembed> {
  const db = await connect(options);
  try {
    if (options.migrate === false) await checkSchema(db);
    else await migrate(db);
  } catch (error) {
    await db.close();
    throw error;
  }
  const providers = new Map<string, EmbeddingProvider>();
  const providerFor = (pipeline: Pipeline) => {
    const key = JSON.stringify(providerConfigOf(pipeline));
    let provider = providers.get(key);
    if (!provider) {
      provider = createProvider(providerConfigOf(pipeline));
      providers.set(key, provider);
    }
    return provider;
  };
  return {
    db,
    enable: (enableOptions) => enableDocumentChunking(db, enableOptions),
    search: (query, searchOptions) => search(db, query, { ...searchOptions, provider: providerFor }),
    startWorker: (workerOptions = {}) => startWorker({ ...workerOptions, db }),
    async close() {
      for (const provider of providers.values()) await provider.close?.();
      await db.close();
    },
  };
}

export { chunk } from './chunking/index.js';
export type { Chunk, ChunkOptions, Tokenizer } from './chunking/types.js';
export { type ConnectOptions, connect } from './db/connect.js';
export { checkSchema, installedVersion, migrate } from './db/migrate.js';
export type { Database, Listener, Queryable, Transaction } from './db/types.js';
export { type ErrorKind, isPgembedError, PgembedError, type PgembedErrorCode } from './errors.js';
export { type EnableOptions, type EnableResult, enableDocumentChunking } from './pipelines/enable.js';
export { findPipeline, listPipelines, type Pipeline } from './pipelines/pipeline.js';
export { createProvider } from './providers/index.js';
export type { EmbeddingProvider, EmbedOptions, ProviderConfig } from './providers/types.js';
export { type ReindexOptions, type ReindexResult, reindex } from './search/indexes.js';
export {
  type LatencySummary,
  measureRecall,
  type RecallOptions,
  type RecallReport,
  type TuneOptions,
  type TuneReport,
  tuneEfSearch,
} from './search/recall.js';
export {
  type FilterValue,
  type HybridOptions,
  hybridSearch,
  type SearchFilter,
  type SearchOptions,
  type SearchResult,
  search,
  searchByVector,
} from './search/search.js';
export type { WorkerConfig } from './worker/config.js';
export type { WorkerEventMap } from './worker/events.js';
export { startWorker, type Worker, type WorkerOptions, type WorkerStats } from './worker/worker.js';
