/**
 * Encoder for PostgreSQL's binary COPY format, used to bulk-load chunk rows: text vectors are slow
 * to print and parse (768 floats each), binary ones are a memcpy on both sides.
 * Format: https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4
 */
export type CopyValue =
  | { type: 'int2' | 'int4'; value: number }
  /** A decimal string (exact beyond 2^53) or a bigint. */
  | { type: 'int8'; value: string | bigint }
  | { type: 'text'; value: string }
  | { type: 'jsonb'; value: string }
  /** `xxxxxxxx-xxxx-…` (hyphens optional, any case). */
  | { type: 'uuid'; value: string }
  /** A one-dimensional `text[]` without NULL elements. */
  | { type: 'textArray'; value: readonly string[] }
  | { type: 'vector'; value: ArrayLike<number> }
  | { type: 'null' };

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const TEXT_OID = 25;

/**
 * One COPY stream (header, rows, trailer) in one buffer. Rows are written into a single growing
 * buffer: a buffer per field made the allocator and the garbage collector a fifth of the worker's
 * time in the ingest benchmark.
 */
export function encodeCopyBinary(rows: readonly (readonly CopyValue[])[]): Buffer {
  const out = new CopyBuffer();
  out.bytes(SIGNATURE);
  out.int32(0); // flags
  out.int32(0); // header extension length
  for (const [i, row] of rows.entries()) {
    out.int16(row.length);
    for (const field of row) encodeField(out, field);
    // Rows of a batch are much alike (a vector each): size the buffer for all of them from the
    // first, with a quarter to spare, instead of doubling (and copying) it several times.
    if (i === 0) out.reserve(Math.ceil(out.length * (rows.length - 1) * 1.25));
  }
  out.int16(-1);
  return out.result();
}

function encodeField(out: CopyBuffer, field: CopyValue): void {
  switch (field.type) {
    case 'null':
      out.int32(-1);
      return;
    case 'int2':
      out.int32(2);
      out.int16(field.value);
      return;
    case 'int4':
      out.int32(4);
      out.int32(field.value);
      return;
    case 'int8':
      out.int32(8);
      out.int64(BigInt(field.value));
      return;
    case 'text':
    case 'jsonb': {
      const version = field.type === 'jsonb' ? 1 : 0; // jsonb's binary form is a version byte, then text
      const length = Buffer.byteLength(field.value, 'utf8');
      out.int32(version + length);
      if (version) out.int8(1);
      out.utf8(field.value, length);
      return;
    }
    case 'uuid': {
      const hex = field.value.replaceAll('-', '');
      if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new TypeError(`not a uuid: ${field.value}`);
      out.int32(16);
      out.bytes(Buffer.from(hex, 'hex'));
      return;
    }
    case 'textArray': {
      // array_send: ndim, has-nulls flag, element type, then per dimension its length and lower bound.
      const lengths = field.value.map((element) => Buffer.byteLength(element, 'utf8'));
      out.int32(20 + lengths.reduce((sum, length) => sum + 4 + length, 0));
      out.int32(1);
      out.int32(0);
      out.int32(TEXT_OID);
      out.int32(field.value.length);
      out.int32(1);
      field.value.forEach((element, i) => {
        out.int32(lengths[i]!);
        out.utf8(element, lengths[i]!);
      });
      return;
    }
    case 'vector': {
      // pgvector's vector_send: int16 dimensions, int16 unused, then float4 values, big-endian.
      const dims = field.value.length;
      out.int32(4 + dims * 4);
      out.int16(dims);
      out.int16(0);
      out.floats(field.value);
      return;
    }
  }
}

/** An append-only byte buffer that doubles when full. */
class CopyBuffer {
  private buf = Buffer.allocUnsafe(64 * 1024);
  private at = 0;
  private scratch = new Float32Array(0);

  get length(): number {
    return this.at;
  }

  reserve(bytes: number): void {
    if (this.at + bytes <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + bytes));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }

  int8(value: number): void {
    this.reserve(1);
    this.at = this.buf.writeUInt8(value, this.at);
  }

  int16(value: number): void {
    this.reserve(2);
    this.at = this.buf.writeInt16BE(value, this.at);
  }

  int32(value: number): void {
    this.reserve(4);
    this.at = this.buf.writeInt32BE(value, this.at);
  }

  int64(value: bigint): void {
    this.reserve(8);
    this.at = this.buf.writeBigInt64BE(value, this.at);
  }

  utf8(value: string, byteLength: number): void {
    this.reserve(byteLength);
    this.at += this.buf.write(value, this.at, byteLength, 'utf8');
  }

  bytes(value: Uint8Array): void {
    this.reserve(value.length);
    this.buf.set(value, this.at);
    this.at += value.length;
  }

  /** float4 values, big-endian. */
  floats(values: ArrayLike<number>): void {
    const byteLength = values.length * 4;
    this.reserve(byteLength);
    // A Float32Array is host-endian (little on every platform Node supports): convert into one
    // reused array, copy its bytes in, then one swap32 over the span makes them big-endian — ~10×
    // faster than a writeFloatBE per value, and no allocation per vector.
    if (this.scratch.length < values.length) this.scratch = new Float32Array(values.length);
    const floats = this.scratch.subarray(0, values.length);
    floats.set(values);
    this.buf.set(new Uint8Array(floats.buffer, 0, byteLength), this.at);
    this.buf.subarray(this.at, this.at + byteLength).swap32();
    this.at += byteLength;
  }

  result(): Buffer {
    return this.buf.subarray(0, this.at);
  }
}
