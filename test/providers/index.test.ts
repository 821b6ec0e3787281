import { describe, expect, it } from 'vitest';
import { createProvider, knownDimensions, PROVIDER_NAMES } from '../../src/providers/index.js';
import type { ProviderConfig } from '../../src/providers/types.js';

function failure(config: ProviderConfig): unknown {
  try {
    createProvider(config, { env: { OPENAI_API_KEY: 'sk-test-key' } });
  } catch (error) {
    return error;
  }
  throw new Error('expected createProvider to throw');
}

describe('createProvider', () => {
  it('builds each known provider', () => {
    expect(PROVIDER_NAMES).toEqual([
      'hash',
      'local',
      'openai',
      'azure-openai',
      'ollama',
      'voyage',
      'cohere',
      'anthropic',
    ]);
    expect(createProvider({ provider: 'hash', model: 'hash-v1', dimensions: 16 })).toMatchObject({
      name: 'hash',
      dimensions: 16,
    });
    expect(createProvider({ provider: 'local', model: 'all-MiniLM-L6-v2' })).toMatchObject({
      name: 'local',
      dimensions: 384,
    });
    const openai = createProvider(
      {
        provider: 'openai',
        model: 'text-embedding-3-small',
        baseUrl: null,
        dimensions: null,
      } as unknown as ProviderConfig,
      { env: { OPENAI_API_KEY: 'sk-test-key' } },
    );
    expect(openai).toMatchObject({ name: 'openai', dimensions: 1536 });
  });

  it('rejects an unknown provider, listing the known ones', () => {
    expect(failure({ provider: 'cohere-v9', model: 'x' })).toMatchObject({
      code: 'PROVIDER_UNKNOWN',
      kind: 'configuration',
      message:
        'Unknown provider "cohere-v9"; known providers: hash, local, openai, azure-openai, ollama, voyage, cohere, anthropic',
    });
    expect(failure({ provider: 'constructor', model: 'x' })).toMatchObject({ code: 'PROVIDER_UNKNOWN' });
  });

  it.each([
    [{ provider: 'hash', model: '' }, 'model must be a non-empty string'],
    [
      { provider: 'hash', model: 'hash-v1', dimensions: 0 },
      'dimensions must be an integer between 1 and 16000',
    ],
    [
      { provider: 'hash', model: 'hash-v1', dimensions: 1.5 },
      'dimensions must be an integer between 1 and 16000',
    ],
    [
      { provider: 'hash', model: 'hash-v1', dimensions: 16_001 },
      'dimensions must be an integer between 1 and 16000',
    ],
    [{ provider: 'openai', model: 'm', baseUrl: 'ftp://x' }, 'baseUrl must be an http:// or https:// URL'],
    [{ provider: 'openai', model: 'm', timeoutMs: 0 }, 'timeoutMs must be an integer between 1 and 600000'],
    [
      { provider: 'hash', model: 'hash-v1', baseUrl: 'http://x' },
      'baseUrl is not used by the hash provider; remove it',
    ],
    [
      { provider: 'local', model: 'bge-small' },
      'local provider supports only models "all-MiniLM-L6-v2" and "all-MiniLM-L6-v2-int8"',
    ],
    [
      { provider: 'local', model: 'all-MiniLM-L6-v2', dimensions: 768 },
      'dimensions for local all-MiniLM-L6-v2 must be 384',
    ],
  ] satisfies [ProviderConfig, string][])('%o → %s', (config, message) => {
    expect(failure(config)).toMatchObject({ code: 'CONFIG_INVALID', kind: 'configuration', message });
  });

  it('never echoes an apiKeyEnv that looks like a key', () => {
    const error = failure({ provider: 'openai', model: 'm', apiKeyEnv: 'sk-live-abc123' });
    expect(error).toMatchObject({
      code: 'CONFIG_INVALID',
      message: 'apiKeyEnv must be the name of an environment variable, not the key itself',
    });
    expect(String(error)).not.toContain('abc123');
  });

  it('reports a missing key as PROVIDER_CONFIG', () => {
    expect(() =>
      createProvider({ provider: 'openai', model: 'm', apiKeyEnv: 'NOPE_KEY' }, { env: {} }),
    ).toThrow('Environment variable NOPE_KEY is not set');
  });
});

describe('knownDimensions', () => {
  it('knows the built-in models', () => {
    expect(knownDimensions('openai', 'text-embedding-3-small')).toBe(1536);
    expect(knownDimensions('openai', 'text-embedding-3-large')).toBe(3072);
    expect(knownDimensions('openai', 'text-embedding-ada-002')).toBe(1536);
    expect(knownDimensions('openai', 'toString')).toBeUndefined();
    expect(knownDimensions('openai', 'nomic-embed-text')).toBeUndefined();
    expect(knownDimensions('local', 'all-MiniLM-L6-v2')).toBe(384);
    expect(knownDimensions('hash', 'hash-v1')).toBe(768);
    expect(knownDimensions('nope', 'x')).toBeUndefined();
  });
});
