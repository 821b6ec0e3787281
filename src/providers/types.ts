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
  /**
   * Most tokens accepted in one request, all inputs together (OpenAI 300,000; Voyage 120,000 to
   * 1,000,000 by model). Absent: no limit beyond `maxBatchSize` × `maxInputTokens`.
   */
  readonly maxBatchTokens?: number;
  /**
   * Tokens of `text` as this provider counts them: exact where we ship the model's tokenizer
   * (`tokenCountExact`), otherwise a documented over-estimate, used to size batches.
   */
  countTokens?(text: string): number;
  /** Whether `countTokens` is the provider's own tokenizer (then an over-long input is refused before sending). */
  readonly tokenCountExact?: boolean;
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
  /** Pacing when the provider sends no rate-limit headers (or to stay below them). */
  requestsPerMinute?: number | undefined;
  tokensPerMinute?: number | undefined;
  /** Upper bound of the adaptive number of requests in flight on this key. Default 16. */
  maxConcurrency?: number | undefined;
  /** azure-openai: REST api-version. Default 2024-10-21. */
  apiVersion?: string | undefined;
  /** ollama: how long the server keeps the model loaded after a request ("5m", "1h", "-1"). */
  keepAlive?: string | undefined;
}
