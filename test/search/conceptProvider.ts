import type { EmbeddingProvider } from '../../src/providers/types.js';

/**
 * A tiny "semantic" embedder for search tests: words of one concept (synonyms) share a dimension,
 * so a paraphrase lands near its document while sharing no word with it; words with digits
 * (identifiers, error codes) are invisible to it, as they nearly are to small real models; other
 * words fall into a few hashed dimensions with a small weight.
 */
export const CONCEPTS: readonly string[][] = [
  ['refund', 'reimbursement', 'money', 'repayment', 'repaid'],
  ['car', 'automobile', 'vehicle', 'truck'],
  ['password', 'credential', 'passphrase', 'login'],
  ['slow', 'sluggish', 'latency', 'delay'],
  ['error', 'failure', 'fault', 'crash'],
  ['replica', 'standby', 'replication'],
  ['invoice', 'bill', 'receipt'],
  ['ship', 'delivery', 'parcel', 'shipping'],
];
const HASHED = 8;
export const CONCEPT_DIMENSIONS = CONCEPTS.length + HASHED;

export function conceptEmbedding(text: string): number[] {
  const v: number[] = Array.from({ length: CONCEPT_DIMENSIONS }, () => 0);
  for (const raw of text.toLowerCase().split(/[^a-z0-9-]+/)) {
    if (!raw || /\d/.test(raw)) continue;
    const word = raw.replace(/s$/, '');
    const concept = CONCEPTS.findIndex((group) => group.includes(word) || group.includes(raw));
    if (concept >= 0) v[concept]! += 1;
    else {
      let h = 0;
      for (const ch of word) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
      v[CONCEPTS.length + (h % HASHED)]! += 0.2;
    }
  }
  // A text with no known word still needs a direction: the last hashed dimension.
  if (!v.some((x) => x !== 0)) v[CONCEPT_DIMENSIONS - 1] = 1;
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

export function createConceptProvider(): EmbeddingProvider {
  return {
    name: 'hash',
    model: 'hash-v1',
    dimensions: CONCEPT_DIMENSIONS,
    maxBatchSize: 2048,
    maxInputTokens: 8192,
    async embed(texts) {
      return texts.map(conceptEmbedding);
    },
  };
}
