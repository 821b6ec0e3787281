import { z } from 'zod';
import { PgembedError } from '../errors.js';
import { createAzureOpenAIProvider } from './azure-openai.js';
import { cohereModelInfo, createCohereProvider } from './cohere.js';
import { createHashProvider, HASH_DEFAULT_DIMENSIONS, HASH_MAX_DIMENSIONS } from './hash.js';
import type { HttpProviderDeps } from './http.js';
import { createLocalProvider, isLocalModel, LOCAL_DIMENSIONS, LOCAL_MODELS } from './local.js';
import { createOllamaProvider, ollamaModelInfo } from './ollama.js';
import { createOpenAIProvider, openaiModelDimensions } from './openai.js';
import type { EmbeddingProvider, ProviderConfig } from './types.js';
import { anthropicExplained, createVoyageProvider, voyageModelInfo } from './voyage.js';

export { createAzureOpenAIProvider } from './azure-openai.js';
export { createCohereProvider } from './cohere.js';
export { createHashProvider, hashEmbedding } from './hash.js';
export { LimiterRegistry, RateLimiter, type RateLimits } from './limiter.js';
export { createLocalProvider } from './local.js';
export { createOllamaProvider } from './ollama.js';
export { createOpenAIProvider, decodeBase64Float32, parseRetryAfter } from './openai.js';
export type * from './types.js';
export { createVoyageProvider } from './voyage.js';

/**
 * Seams for tests (key lookup, HTTP, clock) and the worker's shared {@link LimiterRegistry};
 * production passes nothing.
 */
export type ProviderDeps = HttpProviderDeps;

/** A {@link ProviderConfig} after validation: absent and `null` fields are both `undefined`. */
export type ResolvedProviderConfig = z.infer<typeof configSchema>;

const MAX_TIMEOUT_MS = 600_000;

const configSchema = z.object({
  provider: z.string({ error: 'provider must be a string' }),
  model: z
    .string({ error: 'model must be a non-empty string' })
    .min(1, { error: 'model must be a non-empty string' })
    .max(200, { error: 'model must be at most 200 characters' }),
  dimensions: z
    .number({ error: `dimensions must be an integer between 1 and ${HASH_MAX_DIMENSIONS}` })
    .int({ error: `dimensions must be an integer between 1 and ${HASH_MAX_DIMENSIONS}` })
    .min(1, { error: `dimensions must be an integer between 1 and ${HASH_MAX_DIMENSIONS}` })
    .max(HASH_MAX_DIMENSIONS, { error: `dimensions must be an integer between 1 and ${HASH_MAX_DIMENSIONS}` })
    .nullish()
    .transform((value) => value ?? undefined),
  baseUrl: z
    .string({ error: 'baseUrl must be an http:// or https:// URL' })
    .refine(isHttpUrl, { error: 'baseUrl must be an http:// or https:// URL' })
    .nullish()
    .transform((value) => value ?? undefined),
  // The message never echoes the value: a key pasted here by mistake must not reach a log.
  apiKeyEnv: z
    .string({ error: 'apiKeyEnv must be the name of an environment variable, not the key itself' })
    .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, {
      error: 'apiKeyEnv must be the name of an environment variable, not the key itself',
    })
    .nullish()
    .transform((value) => value ?? undefined),
  timeoutMs: integer('timeoutMs', 1, MAX_TIMEOUT_MS),
  requestsPerMinute: integer('requestsPerMinute', 1, 10_000_000),
  tokensPerMinute: integer('tokensPerMinute', 1, 1_000_000_000),
  maxConcurrency: integer('maxConcurrency', 1, 256),
  apiVersion: z
    .string({ error: 'apiVersion must look like 2024-10-21' })
    .regex(/^\d{4}-\d{2}-\d{2}(-preview)?$/, { error: 'apiVersion must look like 2024-10-21' })
    .nullish()
    .transform((value) => value ?? undefined),
  keepAlive: z
    .string({ error: 'keepAlive must be a duration such as "5m"' })
    .max(20, { error: 'keepAlive must be a duration such as "5m"' })
    .nullish()
    .transform((value) => value ?? undefined),
});

function integer(name: string, min: number, max: number) {
  const error = `${name} must be an integer between ${min} and ${max}`;
  return z
    .number({ error })
    .int({ error })
    .min(min, { error })
    .max(max, { error })
    .nullish()
    .transform((value) => value ?? undefined);
}

type Factory = (config: ResolvedProviderConfig, deps: ProviderDeps) => EmbeddingProvider;

const registry = new Map<string, Factory>([
  [
    'hash',
    (config) => {
      only(config, 'hash', []);
      return createHashProvider({ model: config.model, dimensions: config.dimensions });
    },
  ],
  [
    'local',
    (config) => {
      only(config, 'local', []);
      if (!isLocalModel(config.model)) {
        invalid(
          `local provider supports only models ${Object.keys(LOCAL_MODELS)
            .map((m) => `"${m}"`)
            .join(' and ')}`,
        );
      }
      if (config.dimensions !== undefined && config.dimensions !== LOCAL_DIMENSIONS) {
        invalid(`dimensions for local ${config.model} must be ${LOCAL_DIMENSIONS}`);
      }
      return createLocalProvider({ model: config.model });
    },
  ],
  ['openai', (config, deps) => createOpenAIProvider(only(config, 'openai', REMOTE), deps)],
  [
    'azure-openai',
    (config, deps) =>
      createAzureOpenAIProvider(only(config, 'azure-openai', [...REMOTE, 'apiVersion']), deps),
  ],
  ['ollama', (config, deps) => createOllamaProvider(only(config, 'ollama', [...REMOTE, 'keepAlive']), deps)],
  ['voyage', (config, deps) => createVoyageProvider(only(config, 'voyage', REMOTE), deps)],
  ['cohere', (config, deps) => createCohereProvider(only(config, 'cohere', REMOTE), deps)],
  ['anthropic', () => anthropicExplained()],
]);

/** Fields every HTTP provider takes. */
const REMOTE = [
  'baseUrl',
  'apiKeyEnv',
  'timeoutMs',
  'requestsPerMinute',
  'tokensPerMinute',
  'maxConcurrency',
] as const;
const OPTIONAL_FIELDS = [...REMOTE, 'apiVersion', 'keepAlive'] as const;

/** Refuses fields the provider does not use (a typo'd setting must not be silently ignored). */
function only(
  config: ResolvedProviderConfig,
  provider: string,
  allowed: readonly string[],
): ResolvedProviderConfig {
  for (const field of OPTIONAL_FIELDS) {
    if (config[field] !== undefined && !allowed.includes(field)) {
      invalid(`${field} is not used by the ${provider} provider; remove it`);
    }
  }
  return config;
}

/** Names accepted in `ProviderConfig.provider`. */
export const PROVIDER_NAMES: readonly string[] = [...registry.keys()];

/**
 * Validates `config` and builds its provider. Throws `PgembedError` with code `PROVIDER_UNKNOWN` for an
 * unknown provider name, `CONFIG_INVALID` for a bad field (the message names the field and the rule),
 * and `PROVIDER_CONFIG` when the API key's environment variable is unset.
 *
 * @example
 * ```ts
 * const provider = createProvider({ provider: 'openai', model: 'text-embedding-3-small' });
 * const vectors = await provider.embed(['first text', 'second text'], { inputType: 'document' });
 * ```
 */
export function createProvider(config: ProviderConfig, deps: ProviderDeps = {}): EmbeddingProvider {
  const parsed = configSchema.safeParse(config);
  if (!parsed.success) invalid(parsed.error.issues[0]?.message ?? 'provider config is invalid');
  const factory = registry.get(parsed.data.provider);
  if (!factory) {
    throw new PgembedError(
      'PROVIDER_UNKNOWN',
      `Unknown provider "${parsed.data.provider.slice(0, 50)}"; known providers: ${PROVIDER_NAMES.join(', ')}`,
      { kind: 'configuration' },
    );
  }
  return factory(parsed.data, deps);
}

/**
 * Output dimensions of `model` on `provider` without creating the provider, `undefined` when unknown
 * (e.g. a model on an OpenAI-compatible server). For `hash` this is its default, 768.
 *
 * @example
 * ```ts
 * knownDimensions('openai', 'text-embedding-3-large'); // 3072
 * ```
 */
export function knownDimensions(provider: string, model: string): number | undefined {
  switch (provider) {
    case 'hash':
      return HASH_DEFAULT_DIMENSIONS;
    case 'local':
      return isLocalModel(model) ? LOCAL_DIMENSIONS : undefined;
    case 'openai':
    case 'azure-openai':
      return openaiModelDimensions(model);
    case 'voyage':
      return voyageModelInfo(model)?.dimensions;
    case 'cohere':
      return cohereModelInfo(model)?.dimensions;
    case 'ollama':
      return ollamaModelInfo(model)?.dimensions;
    default:
      return undefined;
  }
}

function invalid(message: string): never {
  throw new PgembedError('CONFIG_INVALID', message, { kind: 'configuration' });
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}
