import { PgembedError } from '../errors.js';
import {
  DEFAULT_TIMEOUT_MS,
  describeUrl,
  type HttpProviderDeps,
  httpEmbeddingProvider,
  readApiKey,
} from './http.js';
import {
  limitsOf,
  OPENAI_MAX_BATCH_SIZE,
  OPENAI_MAX_BATCH_TOKENS,
  OPENAI_MAX_INPUT_TOKENS,
  openaiModelDimensions,
  parseOpenAIEmbeddings,
} from './openai.js';
import { exactCounter } from './tokens.js';
import type { EmbeddingProvider } from './types.js';

export const AZURE_DEFAULT_API_KEY_ENV = 'AZURE_OPENAI_API_KEY';
/** The current GA data-plane version; embeddings have not changed shape across versions. */
export const AZURE_DEFAULT_API_VERSION = '2024-10-21';

export interface AzureOpenAIProviderOptions {
  /**
   * The deployment name. Azure routes by deployment, not by model; name deployments after their
   * model (e.g. "text-embedding-3-small") and pgembed also knows its dimensions.
   */
  model: string;
  /** Resource endpoint, e.g. `https://my-resource.openai.azure.com`. Required. */
  baseUrl?: string | undefined;
  dimensions?: number | undefined;
  /** Default `AZURE_OPENAI_API_KEY`. Sent as the `api-key` header. */
  apiKeyEnv?: string | undefined;
  /** Default 2024-10-21. */
  apiVersion?: string | undefined;
  timeoutMs?: number | undefined;
  requestsPerMinute?: number | undefined;
  tokensPerMinute?: number | undefined;
  maxConcurrency?: number | undefined;
}

/**
 * `azure-openai` provider: `POST {endpoint}/openai/deployments/{deployment}/embeddings?api-version=…`
 * with the `api-key` header. Same limits and body as OpenAI (2,048 inputs, 300,000 tokens per request,
 * 8,192 per input, `dimensions` for text-embedding-3 deployments, base64 output), paced by Azure's
 * `x-ratelimit-remaining-*` headers and `retry-after-ms`.
 *
 * @example
 * ```ts
 * const provider = createAzureOpenAIProvider({
 *   baseUrl: 'https://my-resource.openai.azure.com',
 *   model: 'text-embedding-3-small', // the deployment name
 * });
 * ```
 */
export function createAzureOpenAIProvider(
  options: AzureOpenAIProviderOptions,
  deps: HttpProviderDeps = {},
): EmbeddingProvider {
  const { model } = options;
  if (!options.baseUrl) {
    throw new PgembedError(
      'CONFIG_INVALID',
      'azure-openai needs baseUrl, your resource endpoint, e.g. https://my-resource.openai.azure.com',
      { kind: 'configuration' },
    );
  }
  const endpoint = options.baseUrl.replace(/\/+$/, '').replace(/\/openai$/, '');
  const apiVersion = options.apiVersion ?? AZURE_DEFAULT_API_VERSION;
  if (!/^\d{4}-\d{2}-\d{2}(-preview)?$/.test(apiVersion)) {
    throw new PgembedError('CONFIG_INVALID', 'apiVersion must look like 2024-10-21 or 2024-05-01-preview', {
      kind: 'configuration',
    });
  }
  const url = `${endpoint}/openai/deployments/${encodeURIComponent(model)}/embeddings?api-version=${apiVersion}`;
  const where = describeUrl(`Azure OpenAI deployment "${model}"`, endpoint);
  const apiKeyEnv = options.apiKeyEnv ?? AZURE_DEFAULT_API_KEY_ENV;
  const apiKey = readApiKey(deps.env ?? process.env, apiKeyEnv);
  const native = openaiModelDimensions(model);
  if (options.dimensions !== undefined && native !== undefined && options.dimensions > native) {
    throw new PgembedError('CONFIG_INVALID', `dimensions for ${model} must be at most ${native}`, {
      kind: 'configuration',
    });
  }
  // A deployment's model is not visible in its name for sure: send `dimensions` only when it is
  // shortened below the native size of a text-embedding-3 deployment.
  const sendDimensions = model.startsWith('text-embedding-3') && options.dimensions !== undefined;
  return httpEmbeddingProvider({
    name: 'azure-openai',
    model,
    dimensions: options.dimensions ?? native,
    maxBatchSize: OPENAI_MAX_BATCH_SIZE,
    maxInputTokens: OPENAI_MAX_INPUT_TOKENS,
    maxBatchTokens: OPENAI_MAX_BATCH_TOKENS,
    counter: exactCounter('openai', model),
    endpoint,
    limits: limitsOf(options),
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    apiKey,
    where,
    deps,
    request: (texts) => ({
      url,
      headers: { 'api-key': apiKey },
      body: {
        input: texts,
        encoding_format: 'base64',
        ...(sendDimensions ? { dimensions: options.dimensions } : {}),
      },
      ctx: {
        where,
        model,
        apiKeyEnv,
        notFound: `${where} was not found (DeploymentNotFound, or an api-version "${apiVersion}" the resource does not serve); check the deployment name in model and baseUrl`,
        quotaCodes: ['insufficient_quota'],
      },
    }),
    parse: (text, inputs) => parseOpenAIEmbeddings(text, inputs, where),
  });
}
