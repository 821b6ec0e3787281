/**
 * azure-openai against a local server speaking Azure OpenAI's embeddings wire format
 * (https://learn.microsoft.com/azure/ai-services/openai/reference#embeddings): deployment URL,
 * api-version query, `api-key` header, OpenAI-shaped body and errors.
 */
import { describe, expect, it } from 'vitest';
import { createAzureOpenAIProvider } from '../../src/providers/azure-openai.js';
import { createProvider } from '../../src/providers/index.js';
import { KEY, runContract } from './support/contract.js';
import { caught, sendJson, toBase64, vectorFor } from './support/server.js';

const env = { AZURE_OPENAI_API_KEY: KEY };
const make = (url: string, options: { dimensions?: number; timeoutMs?: number } = {}) =>
  createAzureOpenAIProvider(
    {
      baseUrl: url,
      model: 'text-embedding-3-small',
      dimensions: options.dimensions ?? 256,
      timeoutMs: options.timeoutMs,
    },
    { env },
  );

const { server } = runContract({
  name: 'azure-openai',
  path: '/openai/deployments/text-embedding-3-small/embeddings?api-version=2024-10-21',
  make,
  dimensions: 256,
  sendsKey: true,
  ok: (request, dimensions) => ({
    object: 'list',
    data: (request.body.input as string[]).map((text, index) => ({
      object: 'embedding',
      index,
      embedding: toBase64(vectorFor(text, dimensions)),
    })),
    model: 'text-embedding-3-small',
    usage: { prompt_tokens: 3, total_tokens: 3 },
  }),
  error: (status, message) => ({ error: { code: String(status), message } }),
});

describe('azure-openai provider', () => {
  it('sends the api-key header, no model, dimensions and base64 encoding to the deployment URL', async () => {
    server().handle((_request, res) =>
      sendJson(res, 200, {
        object: 'list',
        data: [{ object: 'embedding', index: 0, embedding: toBase64(vectorFor('hello', 256)) }],
      }),
    );
    const [vector] = await make(`${server().url}/`).embed(['hello'], { inputType: 'document' });
    expect(vector).toEqual(vectorFor('hello', 256));
    const [request] = server().received;
    expect(request!.headers['api-key']).toBe(KEY);
    expect(request!.headers.authorization).toBeUndefined();
    expect(request!.body).toEqual({ input: ['hello'], encoding_format: 'base64', dimensions: 256 });
  });

  it('uses the configured api-version and tells a missing deployment apart', async () => {
    server().handle((_request, res) =>
      sendJson(res, 404, {
        error: {
          code: 'DeploymentNotFound',
          message: 'The API deployment for this resource does not exist.',
        },
      }),
    );
    const provider = createAzureOpenAIProvider(
      { baseUrl: server().url, model: 'my-embedder', apiVersion: '2024-05-01-preview' },
      { env },
    );
    const error = await caught(provider.embed(['x'], { inputType: 'document' }));
    expect(server().received[0]!.url).toBe(
      '/openai/deployments/my-embedder/embeddings?api-version=2024-05-01-preview',
    );
    expect(error).toMatchObject({ code: 'PROVIDER_CONFIG', kind: 'configuration' });
    expect(error.message).toMatch(/deployment "my-embedder".*DeploymentNotFound|DeploymentNotFound/);
  });

  it('needs an endpoint and reads the key from AZURE_OPENAI_API_KEY', () => {
    expect(() => createProvider({ provider: 'azure-openai', model: 'x' }, { env })).toThrow(/needs baseUrl/);
    expect(() =>
      createProvider(
        { provider: 'azure-openai', model: 'x', baseUrl: 'https://r.openai.azure.com' },
        { env: {} },
      ),
    ).toThrow('Environment variable AZURE_OPENAI_API_KEY is not set');
  });

  it('counts tokens exactly (cl100k) and batches within 300,000 tokens', () => {
    const provider = make('https://r.openai.azure.com');
    expect(provider.countTokens?.('hello world')).toBe(2);
    expect(provider).toMatchObject({
      maxBatchSize: 2048,
      maxBatchTokens: 300_000,
      maxInputTokens: 8192,
      tokenCountExact: true,
    });
  });
});
