import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import type { Database, Listener, QueryResult, Transaction } from './types.js';

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
    async close() {
      await Promise.all([...listeners].map((listener) => listener.close()));
      await pool.end();
    },
  };
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
