import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import type {
  Database,
  Listener,
  PreparedStatement,
  QueryResult,
  SessionPool,
  Transaction,
} from './types.js';

const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5_000;

export interface PostgresOptions {
  connectionString: string;
  /** Pool size; a worker needs one connection per concurrent batch plus one for housekeeping. */
  max?: number;
  applicationName?: string;
}

/** node-postgres behind the {@link Database} seam. */
export function createPostgresDatabase(options: PostgresOptions): Database {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'pgembed',
  });
  // An idle client losing its connection (server restart) must not crash the process; the pool
  // discards it and the next checkout reconnects.
  pool.on('error', () => {});
  const listeners = new Set<Listener>();
  // Search statements depend on the pipelines' configuration: pgembed._notify_search_changed (0009).
  const searchPool = new PrivateSessionPool(options, 'pgembed_search');

  const query = async <R>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>> => {
    const result = await pool.query(text, params as unknown[] | undefined);
    return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
  };

  return {
    kind: 'postgres',
    query,
    async exec(sql) {
      await pool.query(sql);
    },
    async transaction(fn) {
      const client = await pool.connect();
      let broken = false;
      // A checked-out client has no pool listener: a connection lost between two statements (server
      // restart) would otherwise be an unhandled 'error' event and end the process. The statement
      // in flight fails instead, and the client is discarded.
      const onError = () => {
        broken = true;
      };
      client.on('error', onError);
      try {
        await client.query('BEGIN');
        const tx: Transaction = {
          async query<R>(text: string, params?: readonly unknown[]) {
            const result = await client.query(text, params as unknown[] | undefined);
            return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
          },
          async exec(sql: string) {
            await client.query(sql);
          },
          copyBinary: (table, columns, data) => copyBinary(client, table, columns, data),
        };
        const value = await fn(tx);
        await client.query('COMMIT');
        return value;
      } catch (error) {
        try {
          await client.query('ROLLBACK');
        } catch {
          broken = true;
        }
        throw error;
      } finally {
        client.off('error', onError);
        client.release(broken);
      }
    },
    async listen(channel, onNotify, onReconnect) {
      const listener = new ReconnectingListener(options, channel, onNotify, onReconnect);
      await listener.start();
      listeners.add(listener);
      return {
        close: async () => {
          listeners.delete(listener);
          await listener.close();
        },
      };
    },
    searchPool,
    async close() {
      await Promise.all([...listeners].map((listener) => listener.close()));
      await Promise.all([pool.end(), searchPool.close()]);
    },
  };
}

/**
 * A pool of its own whose connections keep session settings between statements: each connection's
 * current values are remembered, and a statement first sends (in one query) only those that differ.
 * Its pg.Pool is created on first use, so a database that never searches opens no extra connection.
 *
 * Every connection LISTENs on `invalidateOn`, and a notification empties `cache`. PostgreSQL sends a
 * listening connection the notifications of changes committed before its statement ends ahead of
 * that statement's result, so a caller that finds its cache entry gone after a statement knows the
 * statement may have used what the change made stale. With no connection open nobody listens, so
 * the cache is emptied then too.
 */
class PrivateSessionPool implements SessionPool {
  readonly cache = new Map<string, unknown>();
  private pool: pg.Pool | undefined;
  private closed = false;
  private readonly sessions = new WeakMap<pg.PoolClient, Map<string, string | null>>();

  constructor(
    private readonly options: PostgresOptions,
    private readonly invalidateOn: string,
  ) {}

  async query<R>(
    statement: PreparedStatement,
    settings: Readonly<Record<string, string | null>>,
  ): Promise<QueryResult<R>> {
    if (this.closed) throw new Error('the database is closed');
    this.pool ??= this.open();
    const client = await this.pool.connect();
    let broken = false;
    const onError = () => {
      broken = true;
    };
    client.on('error', onError);
    try {
      let session = this.sessions.get(client);
      if (!session) {
        session = new Map();
        this.sessions.set(client, session);
      }
      const changed = Object.entries(settings).filter(([name, value]) => session.get(name) !== value);
      if (changed.length > 0) {
        // set_config(name, NULL, false) is RESET: back to the server's default.
        await client.query(`SELECT set_config(n, v, false) FROM unnest($1::text[], $2::text[]) AS s(n, v)`, [
          changed.map(([name]) => name),
          changed.map(([, value]) => value),
        ]);
        for (const [name, value] of changed) session.set(name, value);
      }
      const result = await client.query({
        name: statement.name,
        text: statement.text,
        values: statement.values as unknown[],
      });
      return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
    } catch (error) {
      // The settings query may have failed halfway: forget what this connection has.
      this.sessions.delete(client);
      throw error;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }

  private open(): pg.Pool {
    const pool = new pg.Pool({
      connectionString: this.options.connectionString,
      max: this.options.max ?? 10,
      application_name: `${this.options.applicationName ?? 'pgembed'}:search`,
    });
    pool.on('error', () => {});
    pool.on('connect', (client) => {
      client.on('notification', (message) => {
        if (message.channel === this.invalidateOn) this.cache.clear();
      });
      // Queued ahead of the statement this connection was opened for; a failure fails that one too.
      client.query(`LISTEN "${this.invalidateOn}"`).catch(() => {});
    });
    pool.on('remove', () => {
      if (pool.totalCount === 0) this.cache.clear();
    });
    return pool;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.cache.clear();
    const pool = this.pool;
    this.pool = undefined;
    if (pool) await pool.end();
  }
}

async function copyBinary(client: pg.PoolClient, table: string, columns: readonly string[], data: Buffer) {
  const stream = client.query(
    copyStreams.from(`COPY ${table} (${columns.join(', ')}) FROM STDIN (FORMAT BINARY)`),
  );
  await new Promise<void>((resolve, reject) => {
    stream.on('error', reject);
    stream.on('finish', resolve);
    stream.end(data);
  });
}

/**
 * A dedicated LISTEN connection that reconnects with capped exponential backoff after the server
 * restarts or terminates it, and tells the caller (notifications sent meanwhile are lost, so the
 * caller must look for work it may have missed).
 */
class ReconnectingListener implements Listener {
  private client: pg.Client | undefined;
  private closed = false;
  private delayMs = RECONNECT_MIN_MS;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: PostgresOptions,
    private readonly channel: string,
    private readonly onNotify: (payload: string) => void,
    private readonly onReconnect: (() => void) | undefined,
  ) {}

  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.options.connectionString,
      application_name: `${this.options.applicationName ?? 'pgembed'}:listen`,
    });
    client.on('notification', (message) => {
      if (message.channel === this.channel) this.onNotify(message.payload ?? '');
    });
    const lost = () => {
      if (this.client !== client) return;
      this.client = undefined;
      client.removeAllListeners('notification');
      client.end().catch(() => {});
      this.scheduleReconnect();
    };
    client.on('error', lost);
    client.on('end', lost);
    await client.connect();
    await client.query(`LISTEN "${this.channel.replaceAll('"', '""')}"`);
    this.client = client;
    this.delayMs = RECONNECT_MIN_MS;
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    this.timer = setTimeout(async () => {
      try {
        await this.connect();
        this.onReconnect?.();
      } catch {
        this.delayMs = Math.min(this.delayMs * 2, RECONNECT_MAX_MS);
        this.scheduleReconnect();
      }
    }, this.delayMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    if (client) await client.end().catch(() => {});
  }
}
