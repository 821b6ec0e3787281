import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  chunk,
  chunkWithEmbeddings,
  type EmbedTexts,
  tiktokenTokenizer,
  wordPieceTokenizer,
} from '../../src/chunking/index.js';
import type { Tokenizer } from '../../src/chunking/types.js';
import { markdownDocument, proseText, unicodeText } from './arbitraries.js';
import { checkChunks } from './checks.js';
import { sentencesAbout, topicEmbedding, topicsIn } from './topics.js';

const cl100k = tiktokenTokenizer('cl100k_base');
const TOKENIZERS: [string, Tokenizer][] = [
  ['cl100k_base', cl100k],
  ['wordpiece', wordPieceTokenizer()],
];

/** The topic embedder as an `embed` function, recording what it is asked. */
function recordingEmbed(vectorOf: (text: string) => number[] = topicEmbedding) {
  const calls: string[][] = [];
  const embed: EmbedTexts = async (texts) => {
    calls.push(texts);
    return texts.map(vectorOf);
  };
  return { embed, calls };
}

/** A deterministic embedder with no idea of topics: words hashed into 12 dimensions. */
function wordHashEmbedding(text: string): number[] {
  const v: number[] = Array.from({ length: 12 }, () => 0);
  for (const word of text.split(/\s+/)) {
    let h = 7;
    for (const ch of word) h = (h * 31 + ch.codePointAt(0)!) >>> 0;
    v[h % 12]! += 1;
  }
  return v;
}

describe('semantic chunks with breaks by embedding similarity', () => {
  const databases = sentencesAbout('databases', 6);
  const baking = sentencesAbout('baking', 6);
  const sailing = sentencesAbout('sailing', 5);

  it('breaks exactly where the topic changes, where boundaries alone see one paragraph', async () => {
    const text = [...databases, ...baking].join(' ');
    const { embed, calls } = recordingEmbed();
    const chunks = await chunkWithEmbeddings(text, { embed, chunkSize: 400, chunkOverlap: 50 });
    expect(chunks.map((c) => c.content)).toEqual([databases.join(' '), baking.join(' ')]);
    // No overlap is carried across a break in meaning.
    expect(chunks[1]!.startChar).toBe(text.indexOf(baking[0]!));
    // One call, every sentence once.
    expect(calls).toEqual([[...databases, ...baking]]);
    // Without embeddings the same text is one chunk: it fits and has no stronger boundary.
    expect(chunk(text, { strategy: 'semantic', chunkSize: 400, chunkOverlap: 50 })).toHaveLength(1);
  });

  it('places a break at every change of topic, across paragraphs and lines too', async () => {
    const text = `${databases.slice(0, 3).join(' ')}\n\n${databases.slice(3).join('\n')} ${baking.join(' ')}\n${sailing.join(' ')}`;
    const { embed } = recordingEmbed();
    // The two changes are equally sharp: both are the largest drop, and both break.
    const chunks = await chunkWithEmbeddings(text, { embed, chunkSize: 400, chunkOverlap: 0 });
    expect(chunks.map((c) => c.startChar)).toEqual([0, text.indexOf(baking[0]!), text.indexOf(sailing[0]!)]);
    checkChunks(text, chunks, cl100k, 400, 0);
  });

  it('fills the budget between breaks as semantic does, and never exceeds it', async () => {
    const many = [...sentencesAbout('databases', 30), ...sentencesAbout('sailing', 30)];
    const text = many.join(' ');
    const { embed } = recordingEmbed();
    const chunks = await chunkWithEmbeddings(text, { embed, chunkSize: 60, chunkOverlap: 10 });
    checkChunks(text, chunks, cl100k, 60, 10);
    // A chunk starts at the first sailing sentence, and none holds both topics.
    expect(chunks.some((c) => c.startChar === text.indexOf(many[30]!))).toBe(true);
    for (const c of chunks) expect(topicsIn(c.content)).toHaveLength(1);
  });

  it('a lower breakpointPercentile gives more breaks', async () => {
    // Hashed words: distances vary everywhere, so the percentile decides how many become breaks.
    const text = sentencesAbout('databases', 8).concat(sentencesAbout('baking', 8)).join(' ');
    const embed: EmbedTexts = async (texts) => texts.map(wordHashEmbedding);
    const count = async (breakpointPercentile: number) =>
      (await chunkWithEmbeddings(text, { embed, chunkSize: 400, chunkOverlap: 0, breakpointPercentile }))
        .length;
    const [p95, p50, p10] = [await count(95), await count(50), await count(10)];
    expect(p95).toBeLessThan(p50);
    expect(p50).toBeLessThan(p10);
  });

  it('embeds each sentence once, and each text it embeds fits the budget', async () => {
    const long = `${'word '.repeat(300).trim()}.`;
    const text = `${databases[0]} ${databases[0]} ${long} ${baking[0]}`;
    const { embed, calls } = recordingEmbed();
    const chunks = await chunkWithEmbeddings(text, { embed, chunkSize: 50, chunkOverlap: 0 });
    checkChunks(text, chunks, cl100k, 50, 0);
    expect(calls).toHaveLength(1);
    const texts = calls[0]!;
    expect(new Set(texts).size).toBe(texts.length);
    expect(texts[0]).toBe(databases[0]);
    // The 300-word sentence is embedded in the pieces it is cut into, each within the budget.
    expect(texts.length).toBeGreaterThan(3);
    for (const t of texts) expect(cl100k.count(t)).toBeLessThanOrEqual(50);
  });

  it('empty and whitespace-only text: no chunks, nothing embedded', async () => {
    const { embed, calls } = recordingEmbed();
    expect(await chunkWithEmbeddings('', { embed })).toEqual([]);
    expect(await chunkWithEmbeddings(' \n\t ', { embed })).toEqual([]);
    expect(calls).toEqual([]);
  });

  describe.each(TOKENIZERS)('properties with %s', (_name, tokenizer) => {
    const sizes = fc
      .integer({ min: 16, max: 160 })
      .chain((size) => fc.tuple(fc.constant(size), fc.integer({ min: 0, max: Math.floor(size / 3) })));
    const texts = fc.oneof(markdownDocument(), proseText(), unicodeText(40));
    const runs = tokenizer === cl100k ? Number(process.env.RUNS ?? 80) : 30;

    it('exact offsets, within budget, bounded overlap, full coverage, deterministic', async () => {
      const embed: EmbedTexts = async (t) => t.map(wordHashEmbedding);
      await fc.assert(
        fc.asyncProperty(
          texts,
          sizes,
          fc.integer({ min: 1, max: 99 }),
          async (source, [size, overlap], p) => {
            const options = {
              tokenizer,
              chunkSize: size,
              chunkOverlap: overlap,
              embed,
              breakpointPercentile: p,
            };
            const chunks = await chunkWithEmbeddings(source, options);
            checkChunks(source, chunks, tokenizer, size, overlap);
            expect(await chunkWithEmbeddings(source, options)).toEqual(chunks);
          },
        ),
        { numRuns: runs },
      );
    });

    it('with embeddings that never differ, exactly the boundary-based semantic chunks', async () => {
      const embed: EmbedTexts = async (t) => t.map(() => [1, 0, 0]);
      await fc.assert(
        fc.asyncProperty(texts, sizes, async (source, [size, overlap]) => {
          const options = { tokenizer, chunkSize: size, chunkOverlap: overlap };
          expect(await chunkWithEmbeddings(source, { ...options, embed })).toEqual(
            chunk(source, { ...options, strategy: 'semantic' }),
          );
        }),
        { numRuns: runs },
      );
    });

    it('on texts of topics: every change of topic starts a chunk, and no chunk mixes two', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.constantFrom('databases', 'baking', 'sailing'), { minLength: 1, maxLength: 5 }),
          fc.integer({ min: 3, max: 6 }),
          sizes,
          async (topics, perTopic, [size, overlap]) => {
            const blocks = topics.map((topic) => sentencesAbout(topic, perTopic).join(' '));
            const source = blocks.join(' ');
            const { embed } = recordingEmbed();
            const chunks = await chunkWithEmbeddings(source, {
              tokenizer,
              chunkSize: size,
              chunkOverlap: overlap,
              embed,
              breakpointPercentile: 50,
            });
            checkChunks(source, chunks, tokenizer, size, overlap);
            // Every change of topic starts a chunk, and no chunk holds two topics.
            let at = 0;
            for (let k = 0; k < blocks.length; k++) {
              if (k > 0 && topics[k] !== topics[k - 1]) expect(chunks.map((c) => c.startChar)).toContain(at);
              at += blocks[k]!.length + 1;
            }
            for (const c of chunks) expect(topicsIn(c.content).length).toBeLessThanOrEqual(1);
          },
        ),
        { numRuns: tokenizer === cl100k ? 60 : 25 },
      );
    });
  });

  it('refuses what it cannot do, saying what to do instead', async () => {
    const { embed } = recordingEmbed();
    await expect(
      chunkWithEmbeddings('One. Two.', { embed, strategy: 'token' as 'semantic' }),
    ).rejects.toThrow(/belong to the semantic strategy, not 'token'/);
    for (const p of [0, 100, -5, 150, Number.NaN, '90' as unknown as number]) {
      await expect(
        chunkWithEmbeddings('One. Two.', { embed, breakpointPercentile: p }),
      ).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: expect.stringMatching(
          /breakpointPercentile must be a number greater than 0 and less than 100/,
        ),
      });
    }
    await expect(
      chunkWithEmbeddings('One. Two.', {} as unknown as Parameters<typeof chunkWithEmbeddings>[1]),
    ).rejects.toThrow(/needs embed/);
    expect(() => chunk('One. Two.', { strategy: 'semantic', embed } as Parameters<typeof chunk>[1])).toThrow(
      /use chunkWithEmbeddings\(\)/,
    );
    // What the embedding function returns is checked before any chunk is made.
    const answers: [string, EmbedTexts][] = [
      ['too few vectors', async (t) => t.slice(1).map(() => [1, 0])],
      ['dimensions that differ', async (t) => t.map((_, i) => (i === 0 ? [1, 0] : [1, 0, 0]))],
      ['a NaN', async (t) => t.map(() => [Number.NaN, 1])],
      ['no list', async () => null as unknown as number[][]],
    ];
    for (const [what, bad] of answers) {
      await expect(
        chunkWithEmbeddings('First sentence. Second sentence. Third one.', { embed: bad }),
        what,
      ).rejects.toMatchObject({
        code: 'PROVIDER_BAD_RESPONSE',
        message: expect.stringMatching(/embedding function/),
      });
    }
  });
});
