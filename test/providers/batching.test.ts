/**
 * Batching by count and by tokens (planBatches, used by the worker's embed step): never more inputs
 * or tokens per request than the provider takes, order kept, and an over-long input refused with
 * its location instead of being truncated.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createProvider } from '../../src/providers/index.js';
import type { EmbeddingProvider } from '../../src/providers/types.js';
import { planBatches } from '../../src/worker/embed.js';

const fake = (overrides: Partial<EmbeddingProvider>): EmbeddingProvider => ({
  name: 'fake',
  model: 'fake-1',
  dimensions: 4,
  maxBatchSize: 3,
  maxInputTokens: 100,
  maxBatchTokens: 10,
  tokenCountExact: true,
  countTokens: (text) => text.length,
  embed: async () => [],
  ...overrides,
});

describe('planBatches', () => {
  it('splits by count and by tokens, in order', () => {
    const plan = planBatches(fake({ maxInputTokens: 10 }), [
      'aaaa',
      'bbbb',
      'cc',
      'd',
      'e',
      'f',
      'gggggggggg',
    ]);
    expect(plan).toEqual([
      { items: [0, 1, 2], tokens: 10 },
      { items: [3, 4, 5], tokens: 3 },
      { items: [6], tokens: 10 },
    ]);
  });

  it('never exceeds either limit, covers every input once, in order (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ maxLength: 20 }), { maxLength: 60 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 20, max: 80 }),
        (texts, maxBatchSize, maxBatchTokens) => {
          const plan = planBatches(fake({ maxBatchSize, maxBatchTokens }), texts);
          expect(plan.flatMap((batch) => batch.items)).toEqual(texts.map((_, i) => i));
          for (const batch of plan) {
            expect(batch.items.length).toBeLessThanOrEqual(maxBatchSize);
            expect(batch.tokens).toBeLessThanOrEqual(maxBatchTokens);
          }
        },
      ),
    );
  });

  it('an input over the per-input limit is INPUT_TOO_LONG with its location, never truncated', () => {
    let error: unknown;
    try {
      planBatches(fake({}), ['ok', 'x'.repeat(101)], (i) => `document [42], chunk ${i}, chars 0–101`);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'INPUT_TOO_LONG', kind: 'permanent' });
    expect((error as Error).message).toMatch(
      /^document \[42\], chunk 1, chars 0–101 has 101 tokens but fake fake-1 reads at most 100/,
    );
  });

  it('estimated counts size batches but do not refuse inputs (the server decides)', () => {
    const plan = planBatches(fake({ tokenCountExact: false, maxBatchTokens: 1000 }), ['x'.repeat(500)]);
    expect(plan).toHaveLength(1);
  });

  it('openai: 300,000 cl100k tokens per request', () => {
    const provider = createProvider(
      { provider: 'openai', model: 'text-embedding-3-small' },
      { env: { OPENAI_API_KEY: 'k' } },
    );
    const text = 'word '.repeat(8000); // 8,000 tokens
    const plan = planBatches(
      provider,
      Array.from({ length: 80 }, () => text),
    );
    expect(plan.map((batch) => batch.items.length)).toEqual([37, 37, 6]);
    for (const batch of plan) expect(batch.tokens).toBeLessThanOrEqual(300_000);
  });

  it('cohere: 96 inputs per request', () => {
    const provider = createProvider(
      { provider: 'cohere', model: 'embed-v4.0' },
      { env: { CO_API_KEY: 'k' } },
    );
    expect(
      planBatches(
        provider,
        Array.from({ length: 200 }, () => 'hi'),
      ).map((b) => b.items.length),
    ).toEqual([96, 96, 8]);
  });
});
