import { afterEach, describe, expect, it } from 'vitest';
import { type CopyValue, encodeCopyBinary } from '../../src/db/copyBinary.js';
import { hasPostgres, openBackend, type TestBackend } from '../support/databases.js';

describe('binary COPY encoding', () => {
  it('writes the signature, each field length-prefixed big-endian, and the trailer', () => {
    const data = encodeCopyBinary([
      [
        { type: 'int4', value: 7 },
        { type: 'text', value: 'é' },
        { type: 'jsonb', value: '[1]' },
        { type: 'null' },
        { type: 'vector', value: [1.5, -2] },
      ],
    ]);
    const expected = Buffer.concat([
      Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'),
      Buffer.alloc(8),
      Buffer.from([0, 5]),
      Buffer.from([0, 0, 0, 4, 0, 0, 0, 7]),
      Buffer.from([0, 0, 0, 2, 0xc3, 0xa9]),
      Buffer.from([0, 0, 0, 4, 1, 0x5b, 0x31, 0x5d]),
      Buffer.from([0xff, 0xff, 0xff, 0xff]),
      // vector: length 12, dims 2, unused 0, then 1.5 and -2 as big-endian float4
      Buffer.from([0, 0, 0, 12, 0, 2, 0, 0, 0x3f, 0xc0, 0, 0, 0xc0, 0, 0, 0]),
      Buffer.from([0xff, 0xff]),
    ]);
    expect(data.equals(expected)).toBe(true);
  });
});

describe('binary COPY into PostgreSQL', () => {
  let backend: TestBackend | undefined;
  afterEach(async () => {
    await backend?.cleanup();
    backend = undefined;
  });

  it('round-trips every encoded type exactly', async (context) => {
    if (!hasPostgres()) context.skip();
    backend = await openBackend('postgres', 'copy_binary');
    const { db } = backend;
    await db.exec(
      `CREATE TABLE t (a smallint, b int, c bigint, d text, e jsonb, f uuid, g text[], h vector(3), i text)`,
    );
    const columns = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'];
    const rows: CopyValue[][] = [
      [
        { type: 'int2', value: -32768 },
        { type: 'int4', value: 2147483647 },
        { type: 'int8', value: '-9223372036854775808' },
        { type: 'text', value: 'naïve 🐘' },
        { type: 'jsonb', value: '{"k": [1, "ü"]}' },
        { type: 'uuid', value: '0E9B8A3C-5D6F-4A1B-8C2D-3E4F5A6B7C8D' },
        { type: 'textArray', value: ['# Guide', '## Ünïcode, "quoted"', ''] },
        { type: 'vector', value: [0.5, -1, 3.25] },
        { type: 'null' },
      ],
      [
        { type: 'int2', value: 7 },
        { type: 'int4', value: -1 },
        { type: 'int8', value: 9007199254740993n },
        { type: 'text', value: '' },
        { type: 'jsonb', value: '[]' },
        { type: 'uuid', value: '00000000000000000000000000000000' },
        { type: 'textArray', value: [] },
        { type: 'vector', value: Float32Array.from([1, 2, 3]) },
        { type: 'text', value: 'x'.repeat(100_000) },
      ],
    ];
    await db.transaction(async (tx) => tx.copyBinary!('t', columns, encodeCopyBinary(rows)));
    const { rows: stored } = await db.query(
      `SELECT a, b, c::text, d, e::text, f::text, g, h::text, length(i) AS i FROM t ORDER BY a`,
    );
    expect(stored).toEqual([
      {
        a: -32768,
        b: 2147483647,
        c: '-9223372036854775808',
        d: 'naïve 🐘',
        e: '{"k": [1, "ü"]}',
        f: '0e9b8a3c-5d6f-4a1b-8c2d-3e4f5a6b7c8d',
        g: ['# Guide', '## Ünïcode, "quoted"', ''],
        h: '[0.5,-1,3.25]',
        i: null,
      },
      {
        a: 7,
        b: -1,
        c: '9007199254740993',
        d: '',
        e: '[]',
        f: '00000000-0000-0000-0000-000000000000',
        g: [],
        h: '[1,2,3]',
        i: 100_000,
      },
    ]);
  });

  it('refuses a malformed uuid before sending anything', () => {
    expect(() => encodeCopyBinary([[{ type: 'uuid', value: 'not-a-uuid' }]])).toThrow(
      'not a uuid: not-a-uuid',
    );
  });
});
