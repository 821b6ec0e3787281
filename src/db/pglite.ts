import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite/vector';
import type { Database, QueryResult, Transaction } from './types.js';

/** PostgreSQL type oid of int8; node-postgres returns it as a string, so PGlite is told to do the same. */
const INT8_OID = 20;

export interface PgliteOptions {
  /** Directory holding the database files; `undefined` keeps everything in memory. */
  dataDir?: string | undefined;
}

/**
 * PGlite (PostgreSQL compiled to WASM, in-process) behind the {@link Database} seam, with pgvector.
 * PGlite has a single connection: concurrent callers are serialised, and a transaction holds it.
 */
export async function createPgliteDatabase(options: PgliteOptions = {}): Promise<Database> {
  if (options.dataDir) mkdirSync(options.dataDir, { recursive: true });
  const db = await PGlite.create({
    ...(options.dataDir ? { dataDir: options.dataDir } : {}),
    extensions: { vector },
    parsers: { [INT8_OID]: (value: string) => value },
  });
  const unsubscribers = new Set<() => Promise<void>>();

  const wrap = (target: Pick<PGlite, 'query' | 'exec'>): Transaction => ({
    async exec(sql: string) {
      await target.exec(sql);
    },
    async query<R>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
      const result = await target.query<R>(text, params as unknown[] | undefined);
      // PGlite reports affectedRows 0 for SELECT; node-postgres reports the rows returned.
      return { rows: result.rows, rowCount: Math.max(result.affectedRows ?? 0, result.rows.length) };
    },
  });
  const root = wrap(db);

  return {
    kind: 'pglite',
    query: root.query,
    exec: root.exec,
    transaction: (fn) => db.transaction((tx) => fn(wrap(tx))),
    async listen(channel, onNotify) {
      // In-process: the "connection" cannot be lost, so there is never a reconnect to report.
      const unsubscribe = await db.listen(channel, onNotify);
      unsubscribers.add(unsubscribe);
      return {
        close: async () => {
          if (unsubscribers.delete(unsubscribe)) await unsubscribe();
        },
      };
    },
    async close() {
      for (const unsubscribe of unsubscribers) await unsubscribe();
      unsubscribers.clear();
      if (!db.closed) await db.close();
    },
  };
}
