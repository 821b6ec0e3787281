import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createHashProvider, hashEmbedding } from '../../src/providers/hash.js';

const norm = (vector: readonly number[]) => Math.sqrt(vector.reduce((sum, value) => sum + value * value, 0));

/** The algorithm as documented on hashEmbedding, written out independently. */
function recompute(text: string, dimensions: number, model: string): number[] {
  const seed = createHash('sha256')
    .update(Buffer.concat([Buffer.from(model), Buffer.from([0]), Buffer.from(text)]))
    .digest();
  const raw: number[] = [];
  for (let block = 0; raw.length < dimensions; block++) {
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(block);
    const digest = createHash('sha256')
      .update(Buffer.concat([seed, counter]))
      .digest();
    for (let k = 0; k < 8 && raw.length < dimensions; k++) raw.push(digest.readInt32LE(k * 4) / 2 ** 31);
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

  it('is fast: thousands of 768-dimension texts per second', () => {
    const texts = Array.from({ length: 2000 }, (_, i) => `row ${i}: ${'lorem ipsum '.repeat(40)}`);
    const started = performance.now();
    for (const text of texts) hashEmbedding(text, 768, 'hash-v1');
    const perSecond = texts.length / ((performance.now() - started) / 1000);
    expect(perSecond).toBeGreaterThan(2000);
  });
});
