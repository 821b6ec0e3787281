/**
 * The provider seam. One implementation per embedding service; the worker only knows this interface.
 * Rate limiting, token-aware batching and more services plug in behind it (SPEC §5).
 */
export type InputType = 'document' | 'query';

export interface EmbedOptions {
  inputType: InputType;
  signal?: AbortSignal;
}

export interface EmbeddingProvider {
  /** Provider name as stored in the pipeline: 'local', 'hash', 'openai', … */
  readonly name: string;
  readonly model: string;
  /** Output dimensions, when known before the first call. */
  readonly dimensions: number | undefined;
  /** Most inputs accepted in one request. */
  readonly maxBatchSize: number;
  /** Most tokens accepted for one input (in the model's tokenizer). */
  readonly maxInputTokens: number;
  /** One vector per input, in input order. */
  embed(texts: readonly string[], options: EmbedOptions): Promise<number[][]>;
  close?(): Promise<void>;
}

/** What a pipeline stores about its provider (never a key: only the *name* of the env var holding it). */
export interface ProviderConfig {
  provider: string;
  model: string;
  dimensions?: number | undefined;
  /** Base URL for OpenAI-compatible servers. */
  baseUrl?: string | undefined;
  /** Name of the environment variable that holds the API key. */
  apiKeyEnv?: string | undefined;
  /** Per-request timeout. */
  timeoutMs?: number | undefined;
}
