// Integration test of the harness itself, against the real PostgreSQL 15 + pgvector that
// test/support/global-setup.ts started for this run.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from './postgres.js';

const adminUrl = inject('pgAdminUrl');

describe.skipIf(adminUrl === null)('test PostgreSQL (real server)', () => {
  let db: TestDatabase;
  let client: pg.Client;

  beforeAll(async () => {
    db = await createTestDatabase(adminUrl!, 'harness');
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
  });

  afterAll(async () => {
    await client?.end();
    await db?.drop();
  });

  it('connects to its own database with pgvector installed', async () => {
    const { rows } = await client.query<{ db: string; extversion: string }>(
      `SELECT current_database() AS db, extversion FROM pg_extension WHERE extname = 'vector'`,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.db).toBe(db.name);
    expect(rows[0]!.extversion).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('answers a cosine-distance query', async () => {
    await client.query('CREATE TABLE items (id int PRIMARY KEY, embedding vector(3))');
    await client.query(`INSERT INTO items SELECT * FROM unnest($1::int[], $2::vector[])`, [
      [1, 2, 3],
      ['[1,0,0]', '[0,1,0]', '[1,1,0]'],
    ]);
    const { rows } = await client.query<{ id: number; distance: number }>(
      `SELECT id, embedding <=> $1::vector AS distance FROM items ORDER BY distance, id`,
      ['[1,0,0]'],
    );
    expect(rows.map((row) => row.id)).toEqual([1, 3, 2]);
    expect(rows[0]!.distance).toBeCloseTo(0, 6);
    expect(rows[1]!.distance).toBeCloseTo(1 - Math.SQRT1_2, 6);
    expect(rows[2]!.distance).toBeCloseTo(1, 6);
  });

  it.skipIf(inject('pgSocketDir') === null)('listens on a unix socket only, no TCP port', async () => {
    const { rows } = await client.query<{ listen_addresses: string; addr: string | null }>(
      `SELECT current_setting('listen_addresses') AS listen_addresses, inet_server_addr()::text AS addr`,
    );
    // inet_server_addr() is NULL exactly when this connection came through a unix socket.
    expect(rows[0]).toEqual({ listen_addresses: '', addr: null });
    expect(db.url).toContain(`host=${inject('pgSocketDir')}`);
  });

  it('drops the database, sessions and all', async () => {
    const other = await createTestDatabase(adminUrl!, 'harness_drop');
    const session = new pg.Client({ connectionString: other.url });
    await session.connect();
    session.on('error', () => undefined); // DROP … WITH (FORCE) terminates it
    await other.drop();
    await other.drop();
    const { rows } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [other.name]);
    expect(rows).toHaveLength(0);
    await session.end().catch(() => undefined);
  });
});
