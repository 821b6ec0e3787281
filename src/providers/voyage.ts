import { PgembedError } from '../errors.js';
import {
  checkRequestedDimensions,
  DEFAULT_TIMEOUT_MS,
  describeUrl,
  type HttpProviderDeps,
  httpEmbeddingProvider,
  readApiKey,
} from './http.js';
import type { RateLimits } from './limiter.js';
import { parseOpenAIEmbeddings } from './openai.js';
import { estimatedCounter } from './tokens.js';
import type { EmbeddingProvider } from './types.js';

export const VOYAGE_DEFAULT_BASE_URL = 'https://api.voyageai.com/v1';
export const VOYAGE_DEFAULT_API_KEY_ENV = 'VOYAGE_API_KEY';
/** Voyage's documented limit of inputs per request. */
export const VOYAGE_MAX_BATCH_SIZE = 1000;

/**
 * Voyage's models: native dimensions, output_dimension choices, context length and the total tokens
 * one request may carry (https://docs.voyageai.com/docs/embeddings).
 */
export const VOYAGE_MODELS: Readonly<
  Record<
    string,
    { dimensions: number; flexible: readonly number[]; maxInputTokens: number; maxBatchTokens: number }
  >
> = {
  'voyage-3.5': {
    dimensions: 1024,
    flexible: [256, 512, 1024, 2048],
    maxInputTokens: 32_000,
    maxBatchTokens: 320_000,
  },
  'voyage-3.5-lite': {
    dimensions: 1024,
    flexible: [256, 512, 1024, 2048],
    maxInputTokens: 32_000,
    maxBatchTokens: 1_000_000,
  },
  'voyage-3-large': {
    dimensions: 1024,
    flexible: [256, 512, 1024, 2048],
    maxInputTokens: 32_000,
    maxBatchTokens: 120_000,
  },
  'voyage-code-3': {
    dimensions: 1024,
    flexible: [256, 512, 1024, 2048],
    maxInputTokens: 32_000,
    maxBatchTokens: 120_000,
  },
  'voyage-3': { dimensions: 1024, flexible: [], maxInputTokens: 32_000, maxBatchTokens: 320_000 },
  'voyage-3-lite': { dimensions: 512, flexible: [], maxInputTokens: 32_000, maxBatchTokens: 1_000_000 },
  'voyage-finance-2': { dimensions: 1024, flexible: [], maxInputTokens: 32_000, maxBatchTokens: 120_000 },
  'voyage-law-2': { dimensions: 1024, flexible: [], maxInputTokens: 16_000, maxBatchTokens: 120_000 },
  'voyage-multilingual-2': {
    dimensions: 1024,
    flexible: [],
    maxInputTokens: 32_000,
    maxBatchTokens: 120_000,
  },
};

export function voyageModelInfo(model: string) {
  return Object.hasOwn(VOYAGE_MODELS, model) ? VOYAGE_MODELS[model] : undefined;
}

export interface VoyageProviderOptions extends RateLimits {
  model: string;
  dimensions?: number | undefined;
  baseUrl?: string | undefined;
  /** Default `VOYAGE_API_KEY`. */
  apiKeyEnv?: string | undefined;
  timeoutMs?: number | undefined;
}

/**
 * `voyage` provider (Voyage AI, the embedding provider Anthropic recommends): `POST {baseUrl}/embeddings`
 * with `input_type` "document" or "query" (Voyage prepends a retrieval prompt for each), at most 1,000
 * inputs and the model's total-token limit per request, `truncation: false` so an over-long input is
 * refused instead of cut, `output_dimension` for models that offer several, base64 output.
 *
 * @example
 * ```ts
 * const provider = createVoyageProvider({ model: 'voyage-3.5' }); // key in VOYAGE_API_KEY
 * const [q] = await provider.embed(['how do refunds work?'], { inputType: 'query' });
 * ```
 */
export function createVoyageProvider(
  options: VoyageProviderOptions,
  deps: HttpProviderDeps = {},
): EmbeddingProvider {
  const { model } = options;
  const info = voyageModelInfo(model);
  const sendDimensions = checkRequestedDimensions(model, info, options.dimensions);
  const baseUrl = (options.baseUrl ?? VOYAGE_DEFAULT_BASE_URL).replace(/\/+$/, '');
  const url = `${baseUrl}/embeddings`;
  const where = baseUrl === VOYAGE_DEFAULT_BASE_URL ? 'Voyage AI' : describeUrl('the Voyage server', baseUrl);
  const apiKeyEnv = options.apiKeyEnv ?? VOYAGE_DEFAULT_API_KEY_ENV;
  const apiKey = readApiKey(deps.env ?? process.env, apiKeyEnv);
  return httpEmbeddingProvider({
    name: 'voyage',
    model,
    dimensions: options.dimensions ?? info?.dimensions,
    maxBatchSize: VOYAGE_MAX_BATCH_SIZE,
    maxInputTokens: info?.maxInputTokens ?? 32_000,
    maxBatchTokens: info?.maxBatchTokens ?? 120_000,
    counter: estimatedCounter(),
    endpoint: baseUrl,
    limits: options,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    apiKey,
    where,
    deps,
    request: (texts, inputType) => ({
      url,
      headers: { authorization: `Bearer ${apiKey}` },
      body: {
        model,
        input: texts,
        input_type: inputType,
        truncation: false,
        encoding_format: 'base64',
        ...(sendDimensions ? { output_dimension: options.dimensions } : {}),
      },
      ctx: {
        where,
        model,
        apiKeyEnv,
        notFound: `${where} has no embeddings endpoint at ${url}; check baseUrl`,
        // Voyage answers an unknown model with 400 "Model x is not supported".
        classify: (status, error) =>
          status === 400 && /model .*(not supported|invalid|not found)/i.test(error.message)
            ? {
                code: 'PROVIDER_CONFIG',
                kind: 'configuration',
                message: `${where} does not offer model "${model}" (HTTP 400: ${error.message}); see https://docs.voyageai.com/docs/embeddings`,
              }
            : undefined,
      },
    }),
    parse: (text, inputs) => parseOpenAIEmbeddings(text, inputs, where),
  });
}

/**
 * `anthropic` is accepted as a provider name so that the user who tries it learns what to do:
 * Anthropic offers no embeddings API and recommends Voyage AI.
 */
export function anthropicExplained(): never {
  throw new PgembedError(
    'PROVIDER_CONFIG',
    'Anthropic has no embeddings API; Anthropic recommends Voyage AI for embeddings. ' +
      "Use provider 'voyage' (model 'voyage-3.5', or 'voyage-code-3' for code) with a key from " +
      'https://dash.voyageai.com in VOYAGE_API_KEY, e.g. ' +
      "SELECT pgembed.enable_document_chunking('docs', 'body', provider => 'voyage', api_key_env => 'VOYAGE_API_KEY')",
    { kind: 'configuration' },
  );
}
