import {
  badResponse,
  checkRequestedDimensions,
  DEFAULT_TIMEOUT_MS,
  describeUrl,
  type HttpProviderDeps,
  httpEmbeddingProvider,
  isRecord,
  parseJson,
  readApiKey,
  toVector,
} from './http.js';
import type { RateLimits } from './limiter.js';
import { estimatedCounter } from './tokens.js';
import type { EmbeddingProvider } from './types.js';

export const COHERE_DEFAULT_BASE_URL = 'https://api.cohere.com';
/** Cohere's SDKs read the key from CO_API_KEY. */
export const COHERE_DEFAULT_API_KEY_ENV = 'CO_API_KEY';
/** Cohere's documented limit of texts per embed call. */
export const COHERE_MAX_BATCH_SIZE = 96;

export const COHERE_MODELS: Readonly<
  Record<string, { dimensions: number; flexible: readonly number[]; maxInputTokens: number }>
> = {
  'embed-v4.0': { dimensions: 1536, flexible: [256, 512, 1024, 1536], maxInputTokens: 128_000 },
  'embed-english-v3.0': { dimensions: 1024, flexible: [], maxInputTokens: 512 },
  'embed-multilingual-v3.0': { dimensions: 1024, flexible: [], maxInputTokens: 512 },
  'embed-english-light-v3.0': { dimensions: 384, flexible: [], maxInputTokens: 512 },
  'embed-multilingual-light-v3.0': { dimensions: 384, flexible: [], maxInputTokens: 512 },
};

export function cohereModelInfo(model: string) {
  return Object.hasOwn(COHERE_MODELS, model) ? COHERE_MODELS[model] : undefined;
}

export interface CohereProviderOptions extends RateLimits {
  model: string;
  dimensions?: number | undefined;
  baseUrl?: string | undefined;
  /** Default `CO_API_KEY`. */
  apiKeyEnv?: string | undefined;
  timeoutMs?: number | undefined;
}

/**
 * `cohere` provider, v2 embed API: `POST {baseUrl}/v2/embed` with `texts` (≤ 96), the required
 * `input_type` (`search_document` for chunks, `search_query` for queries), `embedding_types: ['float']`,
 * `truncate: 'NONE'` (an over-long input is an error, never silently cut) and `output_dimension` for
 * embed-v4.0.
 *
 * @example
 * ```ts
 * const provider = createCohereProvider({ model: 'embed-v4.0', dimensions: 1024 }); // key in CO_API_KEY
 * ```
 */
export function createCohereProvider(
  options: CohereProviderOptions,
  deps: HttpProviderDeps = {},
): EmbeddingProvider {
  const { model } = options;
  const info = cohereModelInfo(model);
  const sendDimensions = checkRequestedDimensions(model, info, options.dimensions);
  const baseUrl = (options.baseUrl ?? COHERE_DEFAULT_BASE_URL).replace(/\/+$/, '').replace(/\/v2$/, '');
  const url = `${baseUrl}/v2/embed`;
  const where = baseUrl === COHERE_DEFAULT_BASE_URL ? 'Cohere' : describeUrl('the Cohere server', baseUrl);
  const apiKeyEnv = options.apiKeyEnv ?? COHERE_DEFAULT_API_KEY_ENV;
  const apiKey = readApiKey(deps.env ?? process.env, apiKeyEnv);
  return httpEmbeddingProvider({
    name: 'cohere',
    model,
    dimensions: options.dimensions ?? info?.dimensions,
    maxBatchSize: COHERE_MAX_BATCH_SIZE,
    maxInputTokens: info?.maxInputTokens ?? 512,
    counter: estimatedCounter(),
    endpoint: baseUrl,
    limits: options,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    apiKey,
    where,
    deps,
    request: (texts, inputType) => ({
      url,
      headers: { authorization: `Bearer ${apiKey}`, 'x-client-name': 'pgembed' },
      body: {
        model,
        texts,
        input_type: inputType === 'query' ? 'search_query' : 'search_document',
        embedding_types: ['float'],
        truncate: 'NONE',
        ...(sendDimensions ? { output_dimension: options.dimensions } : {}),
      },
      ctx: {
        where,
        model,
        apiKeyEnv,
        notFound: `${where} does not know model "${model}"; check model (e.g. embed-v4.0) and baseUrl`,
        classify: (status, error) =>
          status === 400 && /model .*(not found|invalid|does not exist)/i.test(error.message)
            ? {
                code: 'PROVIDER_CONFIG',
                kind: 'configuration',
                message: `${where} does not offer model "${model}" (HTTP 400: ${error.message})`,
              }
            : // Cohere answers 402 when billing is required, 498 for an invalid token.
              status === 402 || status === 498
              ? {
                  code: 'PROVIDER_AUTH',
                  kind: 'configuration',
                  message: `${where} refused ${apiKeyEnv} (HTTP ${status}: ${error.message}); check the key and billing`,
                }
              : undefined,
      },
    }),
    parse: (text, inputs) => {
      const parsed = parseJson(text, where);
      const byType = isRecord(parsed) ? parsed.embeddings : undefined;
      const floats = isRecord(byType) ? byType.float : undefined;
      if (!Array.isArray(floats)) throw badResponse(`${where} returned JSON without "embeddings.float"`);
      if (floats.length !== inputs) {
        throw badResponse(`${where} returned ${floats.length} embeddings for ${inputs} inputs`);
      }
      return floats.map((raw) => {
        const vector = typeof raw === 'string' ? undefined : toVector(raw);
        if (!vector) throw badResponse(`${where} returned an embedding that is not a list of numbers`);
        return vector;
      });
    },
  });
}
