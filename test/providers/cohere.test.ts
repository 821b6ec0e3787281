/**
 * cohere against a local server speaking Cohere's v2 embed API (https://docs.cohere.com/reference/embed):
 * `texts`, required `input_type`, `embedding_types`, `truncate`; `{embeddings: {float: [[…]]}}`
 * answers; `{message}` error bodies.
 */
import { describe, expect, it } from 'vitest';
import { createCohereProvider } from '../../src/providers/cohere.js';
import { createProvider } from '../../src/providers/index.js';
import { KEY, runContract } from './support/contract.js';
import { caught, sendJson, vectorFor } from './support/server.js';

const env = { CO_API_KEY: KEY };
const make = (url: string, options: { dimensions?: number; timeoutMs?: number } = {}) =>
  createCohereProvider(
    {
      baseUrl: url,
      model: 'embed-v4.0',
      dimensions: options.dimensions ?? 256,
      timeoutMs: options.timeoutMs,
    },
    { env },
  );

const ok = (texts: string[], dimensions: number) => ({
  id: 'b6a6e1a4-5c2e-4f0e-a7e2-1f9d6f3a2c11',
  embeddings: { float: texts.map((text) => vectorFor(text, dimensions)) },
  texts,
  meta: { api_version: { version: '2' }, billed_units: { input_tokens: 3 } },
  response_type: 'embeddings_by_type',
});

const { server } = runContract({
  name: 'cohere',
  path: '/v2/embed',
  make,
  dimensions: 256,
  sendsKey: true,
  ok: (request, dimensions) => ok(request.body.texts as string[], dimensions),
  error: (_status, message) => ({ id: 'err-1', message }),
});

describe('cohere provider', () => {
  it('sends texts with search_document / search_query, float embedding_types, truncate NONE', async () => {
    server().handle((request, res) => sendJson(res, 200, ok(request.body.texts as string[], 256)));
    const vectors = await make(server().url).embed(['doc one', 'doc two'], { inputType: 'document' });
    expect(vectors).toEqual([vectorFor('doc one', 256), vectorFor('doc two', 256)]);
    await make(server().url).embed(['question'], { inputType: 'query' });
    const [doc, query] = server().received;
    expect(doc!.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(doc!.body).toEqual({
      model: 'embed-v4.0',
      texts: ['doc one', 'doc two'],
      input_type: 'search_document',
      embedding_types: ['float'],
      truncate: 'NONE',
      output_dimension: 256,
    });
    expect(query!.body.input_type).toBe('search_query');
  });

  it('knows its limits: 96 texts per call; v3 models have fixed dimensions and 512 tokens', () => {
    expect(createProvider({ provider: 'cohere', model: 'embed-english-v3.0' }, { env })).toMatchObject({
      maxBatchSize: 96,
      maxInputTokens: 512,
      dimensions: 1024,
    });
    expect(() =>
      createProvider({ provider: 'cohere', model: 'embed-english-v3.0', dimensions: 256 }, { env }),
    ).toThrow(/always returns 1024 dimensions/);
    expect(() => createProvider({ provider: 'cohere', model: 'embed-v4.0' }, { env: {} })).toThrow(
      'Environment variable CO_API_KEY is not set',
    );
  });

  // https://docs.cohere.com/reference/errors documents 402 with these two messages; 498 is what
  // Cohere's API definition (and the SDKs generated from it) calls InvalidTokenError.
  it.each([
    [
      402,
      'Please add or update your payment method at https://dashboard.cohere.com/billing?tab=payment to continue',
    ],
    [
      402,
      'Maximum billing reached for this API key as set in your dashboard, please go to https://dashboard.cohere.com/billing?tab=payment to increase your maximum amount to continue using this API key. Your billing capacity will reset at the beginning of next month.',
    ],
    [498, 'invalid api token'],
  ])(
    '%i → PROVIDER_AUTH, configuration (the pipeline pauses; waiting will not help)',
    async (status, message) => {
      server().handle((_request, res) => sendJson(res, status, { id: 'err-2', message }));
      const error = await caught(make(server().url).embed(['x'], { inputType: 'document' }));
      expect(error).toMatchObject({ code: 'PROVIDER_AUTH', kind: 'configuration' });
      expect(error.retryAfterSeconds).toBeUndefined();
      expect(error.message).toContain(`HTTP ${status}: ${message.slice(0, 60)}`);
      expect(error.message).toContain('CO_API_KEY');
      expect(error.message).toMatch(/check the key and billing$/);
      // One request: neither is retried in-process.
      expect(server().received).toHaveLength(1);
    },
  );

  it('refuses more than 96 texts in one call', async () => {
    const texts = Array.from({ length: 97 }, (_, i) => `t${i}`);
    await expect(make(server().url).embed(texts, { inputType: 'document' })).rejects.toThrow(/at most 96/);
  });
});
