import { PgembedError } from '../errors.js';
import {
  badResponse,
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
import { exactCounter } from './tokens.js';
import type { EmbeddingProvider } from './types.js';

export { decodeBase64Float32, parseRetryAfter } from './http.js';

export const OPENAI_DEFAULT_BASE_URL = 'https://api.openai.com/v1';
export const OPENAI_DEFAULT_API_KEY_ENV = 'OPENAI_API_KEY';
/** 30 s: OpenAI answers a full 2048-input batch in a few seconds; longer means something is stuck. */
export const OPENAI_DEFAULT_TIMEOUT_MS = DEFAULT_TIMEOUT_MS;
/** OpenAI's documented limit of inputs per request. */
export const OPENAI_MAX_BATCH_SIZE = 2048;
/** OpenAI's documented limit of tokens per request, all inputs together. */
export const OPENAI_MAX_BATCH_TOKENS = 300_000;
/** cl100k_base tokens per input, all three OpenAI embedding models. */
export const OPENAI_MAX_INPUT_TOKENS = 8192;

/** Native output sizes of OpenAI's embedding models. */
export const OPENAI_MODEL_DIMENSIONS: Readonly<Record<string, number>> = {
  'text-embedding-3-small': 1536,
  'text-embedding-3-large': 3072,
  'text-embedding-ada-002': 1536,
};

/** Native output size of an OpenAI model, `undefined` for models we do not know. */
export function openaiModelDimensions(model: string): number | undefined {
  return Object.hasOwn(OPENAI_MODEL_DIMENSIONS, model) ? OPENAI_MODEL_DIMENSIONS[model] : undefined;
}

export interface OpenAIProviderOptions {
  model: string;
  /**
   * Expected vector length. Sent as `dimensions` (shortened output) only to text-embedding-3 models;
   * for other models it is only checked against what the server returns.
   */
  dimensions?: number | undefined;
  /** Default `https://api.openai.com/v1`; any OpenAI-compatible server works. */
  baseUrl?: string | undefined;
  /** Name of the environment variable holding the key. Default `OPENAI_API_KEY`. */
  apiKeyEnv?: string | undefined;
  /** Per request, including reading the response body. Default 30 000. */
  timeoutMs?: number | undefined;
  /** Pacing below the account's limits; the `x-ratelimit-*` headers are followed regardless. */
  requestsPerMinute?: number | undefined;
  tokensPerMinute?: number | undefined;
  maxConcurrency?: number | undefined;
}

/**
 * `openai` provider: `POST {baseUrl}/embeddings` with base64 float32 output, for OpenAI itself and for
 * OpenAI-compatible servers (vLLM, LiteLLM, LM Studio, …). Fails fast at creation when the key's
 * environment variable is unset. Errors are {@link PgembedError}s classified as in `http.ts`
 * (429 `insufficient_quota` is PROVIDER_AUTH: waiting will not help). Requests are paced by a
 * limiter fed by OpenAI's `x-ratelimit-*` headers; batches stay within 2,048 inputs and 300,000
 * cl100k tokens. Messages never contain the key or the inputs. Aborting `options.signal` rejects
 * with its reason.
 *
 * @example
 * ```ts
 * const provider = createOpenAIProvider({ model: 'text-embedding-3-small', dimensions: 512 });
 * const [vector] = await provider.embed(['hello world'], { inputType: 'document' });
 * vector.length; // 512
 * ```
 */
export function createOpenAIProvider(
  options: OpenAIProviderOptions,
  deps: HttpProviderDeps = {},
): EmbeddingProvider {
  const { model } = options;
  const env = deps.env ?? process.env;
  const apiKeyEnv = options.apiKeyEnv ?? OPENAI_DEFAULT_API_KEY_ENV;
  const timeoutMs = options.timeoutMs ?? OPENAI_DEFAULT_TIMEOUT_MS;
  const baseUrl = (options.baseUrl ?? OPENAI_DEFAULT_BASE_URL).replace(/\/+$/, '');
  const url = `${baseUrl}/embeddings`;
  const where =
    baseUrl === OPENAI_DEFAULT_BASE_URL ? 'OpenAI' : describeUrl('the embeddings server', baseUrl);

  const native = openaiModelDimensions(model);
  const acceptsDimensions = model.startsWith('text-embedding-3');
  if (options.dimensions !== undefined && native !== undefined) {
    if (acceptsDimensions && options.dimensions > native) {
      throw new PgembedError('CONFIG_INVALID', `dimensions for ${model} must be at most ${native}`, {
        kind: 'configuration',
      });
    }
    if (!acceptsDimensions && options.dimensions !== native) {
      throw new PgembedError(
        'CONFIG_INVALID',
        `${model} always returns ${native} dimensions; remove dimensions or set it to ${native}`,
        { kind: 'configuration' },
      );
    }
  }
  const sendDimensions = acceptsDimensions && options.dimensions !== undefined;
  const apiKey = readApiKey(env, apiKeyEnv);
  // OpenAI's models have no query/document distinction, so `inputType` is not sent.
  return httpEmbeddingProvider({
    name: 'openai',
    model,
    dimensions: options.dimensions ?? native,
    maxBatchSize: OPENAI_MAX_BATCH_SIZE,
    maxInputTokens: OPENAI_MAX_INPUT_TOKENS,
    maxBatchTokens: OPENAI_MAX_BATCH_TOKENS,
    counter: exactCounter('openai', model),
    endpoint: baseUrl,
    limits: limitsOf(options),
    timeoutMs,
    apiKey,
    where,
    deps,
    request: (texts) => ({
      url,
      headers: { authorization: `Bearer ${apiKey}` },
      body: {
        model,
        input: texts,
        encoding_format: 'base64',
        ...(sendDimensions ? { dimensions: options.dimensions } : {}),
      },
      ctx: {
        where,
        model,
        apiKeyEnv,
        notFound: `${where} does not know model "${model}" or has no /embeddings endpoint; check model and baseUrl`,
        quotaCodes: ['insufficient_quota'],
      },
    }),
    parse: (text, inputs) => parseOpenAIEmbeddings(text, inputs, where),
  });
}

export function limitsOf(options: RateLimits): RateLimits {
  return {
    requestsPerMinute: options.requestsPerMinute,
    tokensPerMinute: options.tokensPerMinute,
    maxConcurrency: options.maxConcurrency,
  };
}

/**
 * An OpenAI-shaped body (`{data: [{index, embedding}]}`, also Azure's and Voyage's) as vectors in
 * input order, or PROVIDER_BAD_RESPONSE.
 */
export function parseOpenAIEmbeddings(text: string, count: number, where: string): number[][] {
  const parsed = parseJson(text, where);
  const data = isRecord(parsed) ? parsed.data : undefined;
  if (!Array.isArray(data)) throw badResponse(`${where} returned JSON without a "data" array`);
  if (data.length !== count)
    throw badResponse(`${where} returned ${data.length} embeddings for ${count} inputs`);
  // Some compatible servers omit `index`; then (and only then) array order is the input order.
  const indexed = data.some((item) => isRecord(item) && item.index !== undefined);
  const out = new Array<number[] | undefined>(count);
  for (const [position, item] of data.entries()) {
    if (!isRecord(item)) throw badResponse(`${where} returned a data item that is not an object`);
    const index = indexed ? item.index : position;
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= count || out[index]) {
      throw badResponse(`${where} returned missing, duplicate or out-of-range embedding indexes`);
    }
    // Asked for base64, but some compatible servers ignore encoding_format and send float arrays.
    const vector = toVector(item.embedding);
    if (vector === undefined) {
      throw badResponse(
        `${where} returned an embedding that is not a non-empty list of finite float32 values`,
      );
    }
    out[index] = vector;
  }
  return out as number[][];
}
