import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createHashProvider, hashEmbedding } from '../../src/providers/hash.js';

const norm = (vector: readonly number[]) => Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0));

/** The algorithm as documented on hashEmbedding, written out independently (BigInt arithmetic). */
function recompute(text: string, dimensions: number, model: string): number[] {
  const seed = createHash('sha256')
    .update(Buffer.concat([Buffer.from(model), Buffer.from([0]), Buffer.from(text)]))
    .digest();
  const mask = (1n << 32n) - 1n;
  const rotl = (x: bigint, k: bigint) => ((x << k) | (x >> (32n - k))) & mask;
  const s: bigint[] = [0, 4, 8, 12].map((offset) => BigInt(seed.readUInt32LE(offset)));
  if (!s.some((word) => word !== 0n)) s[0] = 1n;
  const raw: number[] = [];
  while (raw.length < dimensions) {
    const result = (rotl((s[1]! * 5n) & mask, 7n) * 9n) & mask;
    const t = (s[1]! << 9n) & mask;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11n);
    raw.push(Number(BigInt.asIntN(32, result)) / 2 ** 31);
  }
  const length = norm(raw);
  return raw.map((value) => value / length);
}

describe('hash provider', () => {
  it('follows the documented algorithm exactly', () => {
    for (const [text, dimensions] of [
      ['hello world', 768],
      ['', 3],
      ['naïve café 🐘', 13],
    ] as const) {
      expect(hashEmbedding(text, dimensions, 'hash-v1')).toEqual(recompute(text, dimensions, 'hash-v1'));
    }
  });

  it('is deterministic across calls and provider instances', async () => {
    const texts = ['alpha', 'beta', 'gamma'];
    const first = await createHashProvider().embed(texts, { inputType: 'document' });
    const second = await createHashProvider().embed([...texts].reverse(), { inputType: 'query' });
    expect(second.reverse()).toEqual(first);
  });

  it('defaults to hash-v1 and 768 dimensions, and honours other dimensions', async () => {
    const provider = createHashProvider();
    expect(provider).toMatchObject({ name: 'hash', model: 'hash-v1', dimensions: 768, maxBatchSize: 2048 });
    const [vector] = await provider.embed(['x'], { inputType: 'document' });
    expect(vector).toHaveLength(768);
    for (const dimensions of [1, 7, 8, 9, 1536, 16_000]) {
      const [v] = await createHashProvider({ dimensions }).embed(['x'], { inputType: 'document' });
      expect(v).toHaveLength(dimensions);
    }
    expect(() => createHashProvider({ dimensions: 0 })).toThrow(
      'dimensions must be an integer between 1 and 16000',
    );
  });

  it('returns unit vectors', async () => {
    const vectors = await createHashProvider().embed(['a', 'b', 'a longer text'], { inputType: 'document' });
    for (const vector of vectors) expect(norm(vector)).toBeCloseTo(1, 12);
    expect(hashEmbedding('x', 1, 'hash-v1')[0]).toSatisfy((value: number) => Math.abs(value) === 1);
  });

  it('gives different texts and different models different vectors', () => {
    const a = hashEmbedding('a', 64, 'hash-v1');
    expect(hashEmbedding('b', 64, 'hash-v1')).not.toEqual(a);
    expect(hashEmbedding('a', 64, 'hash-v2')).not.toEqual(a);
    // The NUL separator keeps (model, text) pairs with the same concatenation apart.
    expect(hashEmbedding('bc', 64, 'a')).not.toEqual(hashEmbedding('c', 64, 'ab'));
  });
});
