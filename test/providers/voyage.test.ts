/**
 * voyage against a local server speaking Voyage AI's embeddings API
 * (https://docs.voyageai.com/reference/embeddings-api): `input`, `input_type`, `truncation`,
 * `output_dimension`, `encoding_format`; OpenAI-shaped `data`; `{detail}` error bodies.
 */
import { describe, expect, it } from 'vitest';
import { createProvider } from '../../src/providers/index.js';
import { createVoyageProvider } from '../../src/providers/voyage.js';
import { KEY, runContract } from './support/contract.js';
import { caught, sendJson, toBase64, vectorFor } from './support/server.js';

const env = { VOYAGE_API_KEY: KEY };
const make = (url: string, options: { dimensions?: number; timeoutMs?: number } = {}) =>
  createVoyageProvider(
    {
      baseUrl: `${url}/v1`,
      model: 'voyage-3.5',
      dimensions: options.dimensions ?? 512,
      timeoutMs: options.timeoutMs,
    },
    { env },
  );

const ok = (input: string[], dimensions: number) => ({
  object: 'list',
  data: input.map((text, index) => ({
    object: 'embedding',
    embedding: toBase64(vectorFor(text, dimensions)),
    index,
  })),
  model: 'voyage-3.5',
  usage: { total_tokens: 10 },
});

const { server } = runContract({
  name: 'voyage',
  path: '/v1/embeddings',
  make,
  dimensions: 512,
  sendsKey: true,
  ok: (request, dimensions) => ok(request.body.input as string[], dimensions),
  error: (_status, message) => ({ detail: message }),
});

describe('voyage provider', () => {
  it('sends input_type document or query, truncation false, output_dimension and a Bearer key', async () => {
    server().handle((request, res) => sendJson(res, 200, ok(request.body.input as string[], 512)));
    await make(server().url).embed(['doc'], { inputType: 'document' });
    await make(server().url).embed(['what?'], { inputType: 'query' });
    const [doc, query] = server().received;
    expect(doc!.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(doc!.body).toEqual({
      model: 'voyage-3.5',
      input: ['doc'],
      input_type: 'document',
      truncation: false,
      encoding_format: 'base64',
      output_dimension: 512,
    });
    expect(query!.body.input_type).toBe('query');
  });

  it('knows its limits: 1,000 inputs and the model total-token budget', () => {
    expect(createProvider({ provider: 'voyage', model: 'voyage-3-large' }, { env })).toMatchObject({
      maxBatchSize: 1000,
      maxBatchTokens: 120_000,
      dimensions: 1024,
    });
    expect(createProvider({ provider: 'voyage', model: 'voyage-3.5-lite' }, { env })).toMatchObject({
      maxBatchTokens: 1_000_000,
    });
    expect(() =>
      createProvider({ provider: 'voyage', model: 'voyage-3.5', dimensions: 300 }, { env }),
    ).toThrow('dimensions for voyage-3.5 must be one of 256, 512, 1024, 2048');
  });

  it('an unsupported model (400) is a configuration error', async () => {
    server().handle((_request, res) => sendJson(res, 400, { detail: 'Model voyage-9 is not supported.' }));
    const provider = createVoyageProvider({ baseUrl: `${server().url}/v1`, model: 'voyage-9' }, { env });
    expect(await caught(provider.embed(['x'], { inputType: 'document' }))).toMatchObject({
      code: 'PROVIDER_CONFIG',
      kind: 'configuration',
    });
  });

  it('anthropic is accepted as a name and explains that Anthropic recommends Voyage AI', () => {
    let error: unknown;
    try {
      createProvider({ provider: 'anthropic', model: 'claude' });
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'PROVIDER_CONFIG', kind: 'configuration' });
    expect(String((error as Error).message)).toMatch(
      /Anthropic recommends Voyage AI.*provider 'voyage'.*VOYAGE_API_KEY/,
    );
  });
});
