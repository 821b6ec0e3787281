import type { ProviderConfig } from '../providers/types.js';
import type { Pipeline } from './pipeline.js';

/** The provider settings a pipeline stores, in the shape `createProvider` takes. */
export function providerConfigOf(pipeline: Pipeline): ProviderConfig {
  return {
    provider: pipeline.provider,
    model: pipeline.model,
    dimensions: pipeline.dimensions,
    baseUrl: pipeline.providerOptions.base_url,
    apiKeyEnv: pipeline.providerOptions.api_key_env,
  };
}
