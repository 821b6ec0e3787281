/**
 * The database seam: node-postgres and PGlite behind one small interface, so the same SQL runs on
 * both and tests can wrap it to inject faults.
 */
export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

export interface Queryable {
  /** One statement, with `$n` parameters. */
  query<R = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
}

export interface Transaction extends Queryable {
  /** A script of several statements without parameters. */
  exec(sql: string): Promise<void>;
  /**
   * Bulk-load rows with `COPY table (columns) FROM STDIN (FORMAT BINARY)` when the driver supports it
   * (node-postgres); `undefined` on PGlite, where callers fall back to `unnest` arrays.
   */
  copyBinary?: (table: string, columns: readonly string[], data: Buffer) => Promise<void>;
}

/** A named prepared statement (node-postgres prepares it once per connection). */
export interface PreparedStatement {
  name: string;
  text: string;
  values: readonly unknown[];
}

/**
 * Connections of their own (node-postgres only), never lent to other queries, whose session settings
 * the caller chooses per statement: search keeps its scan settings there instead of `SET LOCAL` in a
 * transaction around every search.
 */
export interface SessionPool {
  /**
   * Runs `statement` on one of the pool's connections after making its session settings equal
   * `settings` (`null`: the server's default); only settings that differ are sent, in one round trip.
   */
  query<R = Record<string, unknown>>(
    statement: PreparedStatement,
    settings: Readonly<Record<string, string | null>>,
  ): Promise<QueryResult<R>>;
  /**
   * What the owner keeps for these connections (search: its statements). Emptied when the database
   * notifies that what it holds is stale (search: a pipeline changed), and on close.
   */
  readonly cache: Map<string, unknown>;
}

export interface Listener {
  close(): Promise<void>;
}

export interface Database extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** A script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
  /** Runs `fn` in one transaction on one connection; commits if it resolves, rolls back if it throws. */
  transaction<T>(fn: (tx: Transaction) => Promise<T>): Promise<T>;
  /**
   * LISTEN on `channel`. `onNotify` gets each payload; `onReconnect` fires after the listening
   * connection was lost and re-established (notifications may have been missed meanwhile).
   */
  listen(channel: string, onNotify: (payload: string) => void, onReconnect?: () => void): Promise<Listener>;
  /** Search's private connections (node-postgres; opened on first use, closed with the database). */
  readonly searchPool?: SessionPool;
  close(): Promise<void>;
}
