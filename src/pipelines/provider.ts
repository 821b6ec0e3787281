import type { ProviderConfig } from '../providers/types.js';
import type { Pipeline } from './pipeline.js';

/**
 * The provider settings a pipeline stores, in the shape `createProvider` takes. `provider_options`
 * holds base_url and api_key_env (set by enable_document_chunking) and the pacing and per-provider
 * settings of pgembed.set_provider_options().
 */
export function providerConfigOf(pipeline: Pipeline): ProviderConfig {
  const options = pipeline.providerOptions as Record<string, unknown>;
  const text = (key: string) => (typeof options[key] === 'string' ? (options[key] as string) : undefined);
  const int = (key: string) => (typeof options[key] === 'number' ? (options[key] as number) : undefined);
  return {
    provider: pipeline.provider,
    model: pipeline.model,
    dimensions: pipeline.dimensions,
    baseUrl: text('base_url'),
    apiKeyEnv: text('api_key_env'),
    timeoutMs: int('timeout_ms'),
    requestsPerMinute: int('requests_per_minute'),
    tokensPerMinute: int('tokens_per_minute'),
    maxConcurrency: int('max_concurrency'),
    apiVersion: text('api_version'),
    keepAlive: text('keep_alive'),
  };
}
