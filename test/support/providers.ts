import { createHashProvider } from '../../src/providers/hash.js';
import type { EmbeddingProvider } from '../../src/providers/types.js';

/** The real hash provider, recording every text it is asked to embed. */
export function countingHashProvider(dimensions: number): { provider: EmbeddingProvider; texts: string[] } {
  const inner = createHashProvider({ dimensions });
  const texts: string[] = [];
  const provider: EmbeddingProvider = {
    ...inner,
    embed: (input, options) => {
      texts.push(...input);
      return inner.embed(input, options);
    },
  };
  return { provider, texts };
}
