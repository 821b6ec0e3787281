import { resolve } from 'node:path';
import { PgembedError } from '../errors.js';
import { createPgliteDatabase } from './pglite.js';
import { createPostgresDatabase } from './postgres.js';
import type { Database } from './types.js';

/** Where the embedded database lives when no database URL is given. */
export const DEFAULT_DATA_DIR = '.pgembed';

export interface ConnectOptions {
  /** postgres:// URL of a server; without one, the embedded database in `dataDir` is used. */
  databaseUrl?: string | undefined;
  /** Embedded database directory (default `./.pgembed`); `'memory://'` keeps it in memory. */
  dataDir?: string | undefined;
  /** Connection pool size for servers. */
  poolSize?: number | undefined;
}

/**
 * Opens the database pgembed works on: a PostgreSQL server when a URL is given (argument or
 * `DATABASE_URL`), otherwise the embedded PGlite database persisted in `./.pgembed/`.
 */
export async function connect(options: ConnectOptions = {}): Promise<Database> {
  const url = options.databaseUrl ?? process.env.DATABASE_URL;
  if (url) {
    if (!/^postgres(ql)?:\/\//.test(url)) {
      throw new PgembedError(
        'INVALID_ARGUMENT',
        `database URL must start with postgres:// or postgresql:// (got "${url.split(':')[0]}:…"); leave it unset to use the embedded database`,
      );
    }
    return createPostgresDatabase({
      connectionString: url,
      ...(options.poolSize ? { max: options.poolSize } : {}),
    });
  }
  const dataDir = options.dataDir ?? DEFAULT_DATA_DIR;
  return createPgliteDatabase({ dataDir: dataDir === 'memory://' ? undefined : resolve(dataDir) });
}
