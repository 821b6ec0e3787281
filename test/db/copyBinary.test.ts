import { describe, expect, it } from 'vitest';
import { encodeCopyBinary } from '../../src/db/copyBinary.js';

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
