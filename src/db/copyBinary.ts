/**
 * Encoder for PostgreSQL's binary COPY format, used to bulk-load chunk rows: text vectors are slow
 * to print and parse (768 floats each), binary ones are a memcpy on both sides.
 * Format: https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4
 */
export type CopyValue =
  | { type: 'int4'; value: number }
  | { type: 'text'; value: string }
  | { type: 'jsonb'; value: string }
  | { type: 'vector'; value: ArrayLike<number> }
  | { type: 'null' };

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');

export function encodeCopyBinary(rows: readonly (readonly CopyValue[])[]): Buffer {
  const parts: Buffer[] = [];
  const header = Buffer.alloc(SIGNATURE.length + 8);
  SIGNATURE.copy(header);
  parts.push(header);
  for (const row of rows) {
    const count = Buffer.alloc(2);
    count.writeInt16BE(row.length);
    parts.push(count);
    for (const field of row) parts.push(encodeField(field));
  }
  const trailer = Buffer.alloc(2);
  trailer.writeInt16BE(-1);
  parts.push(trailer);
  return Buffer.concat(parts);
}

function encodeField(field: CopyValue): Buffer {
  switch (field.type) {
    case 'null': {
      const buf = Buffer.alloc(4);
      buf.writeInt32BE(-1);
      return buf;
    }
    case 'int4': {
      const buf = Buffer.alloc(8);
      buf.writeInt32BE(4);
      buf.writeInt32BE(field.value, 4);
      return buf;
    }
    case 'text':
    case 'jsonb': {
      const body = Buffer.from(field.value, 'utf8');
      const prefix = field.type === 'jsonb' ? 1 : 0; // jsonb's binary form is a version byte, then text
      const buf = Buffer.alloc(4 + prefix + body.length);
      buf.writeInt32BE(prefix + body.length);
      if (prefix) buf.writeUInt8(1, 4);
      body.copy(buf, 4 + prefix);
      return buf;
    }
    case 'vector': {
      // pgvector's vector_send: int16 dimensions, int16 unused, then float4 values, big-endian.
      const dims = field.value.length;
      const buf = Buffer.alloc(4 + 4 + dims * 4);
      buf.writeInt32BE(4 + dims * 4);
      buf.writeInt16BE(dims, 4);
      buf.writeInt16BE(0, 6);
      // Float32Array is host-endian (little on every platform Node supports); one swap32 makes it
      // big-endian, ~10× faster than a writeFloatBE per value.
      const floats = Buffer.from(Float32Array.from(field.value).buffer);
      floats.swap32().copy(buf, 8);
      return buf;
    }
  }
}
