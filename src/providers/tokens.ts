import { tiktokenTokenizer, tokenizerFor } from '../chunking/tokenizers.js';
import type { Tokenizer } from '../chunking/types.js';

/**
 * Token counters for batching. OpenAI and Azure OpenAI count in cl100k_base/o200k_base and `local` in
 * its WordPiece vocabulary: exact. Voyage, Cohere and Ollama models use tokenizers we do not ship, so
 * their count is an **estimate**: cl100k_base tokens × 1.25, rounded up. Their tokenizers (and
 * WordPiece models served by Ollama) produce up to about a fifth more tokens than cl100k_base on
 * English prose and code; the margin keeps batches under the request budget. Per-input limits of
 * those providers are enforced by the server (pgembed disables their silent truncation), never by
 * this estimate.
 */
export interface TokenCounter {
  count(text: string): number;
  exact: boolean;
}

const ESTIMATE_FACTOR = 1.25;

/** The model's own tokenizer, loaded on first use (WordPiece reads its vocabulary from disk). */
export function exactCounter(provider: string, model: string): TokenCounter {
  let tokenizer: Tokenizer | undefined;
  return {
    count: (text) => {
      tokenizer ??= tokenizerFor(provider, model);
      return tokenizer.count(text);
    },
    exact: true,
  };
}

export function estimatedCounter(): TokenCounter {
  let tokenizer: Tokenizer | undefined;
  return {
    count: (text) => {
      tokenizer ??= tiktokenTokenizer('cl100k_base');
      return Math.ceil(tokenizer.count(text) * ESTIMATE_FACTOR);
    },
    exact: false,
  };
}
