/**
 * Embeddings of the evaluation's texts (chunks of every variant, the questions), cached on disk by the
 * SHA-256 of the text, one file per model: a chunk shared by two chunking variants (or by two runs) is
 * embedded once. Embedding a variant of the corpus takes minutes on a shared 2-core machine; reading
 * the cache takes a second.
 *
 * File format: records of 32 bytes of SHA-256 then 384 little-endian float32, appended after every
 * group, so an interrupted run keeps what it embedded.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createProvider } from '../../src/providers/index.js';

const DIMENSIONS = 384;
const RECORD = 32 + DIMENSIONS * 4;
const GROUP = 64;

const keyOf = (text: string) => createHash('sha256').update(text).digest('hex');

export class EmbeddingCache {
  readonly #vectors = new Map<string, Float32Array>();

  constructor(
    readonly path: string,
    readonly model: string,
  ) {
    if (!existsSync(path)) return;
    const bytes = readFileSync(path);
    for (let at = 0; at + RECORD <= bytes.length; at += RECORD) {
      const key = bytes.subarray(at, at + 32).toString('hex');
      const vector = new Float32Array(DIMENSIONS);
      for (let d = 0; d < DIMENSIONS; d++) vector[d] = bytes.readFloatLE(at + 32 + d * 4);
      this.#vectors.set(key, vector);
    }
  }

  get(text: string): Float32Array {
    const vector = this.#vectors.get(keyOf(text));
    if (!vector) throw new Error(`no cached embedding for ${JSON.stringify(text.slice(0, 60))}`);
    return vector;
  }

  /** Embeds (with the local provider and this cache's model) every text not cached yet. */
  async fill(texts: Iterable<string>, label: string): Promise<void> {
    const missing = [...new Set(texts)].filter((text) => !this.#vectors.has(keyOf(text)));
    if (missing.length === 0) return;
    mkdirSync(dirname(this.path), { recursive: true });
    const provider = createProvider({ provider: 'local', model: this.model });
    const began = performance.now();
    try {
      for (let start = 0; start < missing.length; start += GROUP) {
        const group = missing.slice(start, start + GROUP);
        const vectors = await provider.embed(group, { inputType: 'document' });
        const out = Buffer.alloc(RECORD * group.length);
        group.forEach((text, i) => {
          const key = keyOf(text);
          out.write(key, i * RECORD, 'hex');
          const vector = Float32Array.from(vectors[i]!);
          for (let d = 0; d < DIMENSIONS; d++) out.writeFloatLE(vector[d]!, i * RECORD + 32 + d * 4);
          this.#vectors.set(key, vector);
        });
        appendFileSync(this.path, out);
        const done = start + group.length;
        const seconds = (performance.now() - began) / 1000;
        process.stderr.write(
          `\r${label}: embedded ${done}/${missing.length} (${this.model}, ${(done / seconds).toFixed(1)}/s)  `,
        );
      }
      process.stderr.write('\n');
    } finally {
      await provider.close?.();
    }
  }
}
