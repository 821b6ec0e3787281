/**
 * ollama against a local server speaking Ollama's batch embeddings API
 * (https://github.com/ollama/ollama/blob/main/docs/api.md#generate-embeddings): POST /api/embed with an
 * array `input`, `{embeddings: [[…]]}` answers, `{error: "…"}` error bodies.
 */
import { describe, expect, it } from 'vitest';
import { createProvider } from '../../src/providers/index.js';
import { createOllamaProvider } from '../../src/providers/ollama.js';
import { runContract } from './support/contract.js';
import { caught, sendJson, vectorFor } from './support/server.js';

const make = (url: string, options: { dimensions?: number; timeoutMs?: number } = {}) =>
  createOllamaProvider({
    baseUrl: url,
    model: 'nomic-embed-text',
    dimensions: options.dimensions,
    timeoutMs: options.timeoutMs,
  });

const { server } = runContract({
  name: 'ollama',
  path: '/api/embed',
  make,
  dimensions: 768,
  sendsKey: false,
  ok: (request, dimensions) => ({
    model: request.body.model,
    embeddings: (request.body.input as string[]).map((text) => vectorFor(text, dimensions)),
    total_duration: 14143917,
    load_duration: 1019500,
    prompt_eval_count: 8,
  }),
  error: (_status, message) => ({ error: message }),
});

describe('ollama provider', () => {
  it('posts an array input to /api/embed with truncate false and keep_alive', async () => {
    server().handle((request, res) =>
      sendJson(res, 200, {
        model: 'nomic-embed-text',
        embeddings: (request.body.input as string[]).map((t) => vectorFor(t, 768)),
      }),
    );
    const provider = createOllamaProvider({
      baseUrl: `${server().url}/`,
      model: 'nomic-embed-text',
      keepAlive: '10m',
    });
    const vectors = await provider.embed(['one', 'two'], { inputType: 'query' });
    expect(vectors).toEqual([vectorFor('one', 768), vectorFor('two', 768)]);
    expect(server().received[0]!.body).toEqual({
      model: 'nomic-embed-text',
      input: ['one', 'two'],
      truncate: false,
      keep_alive: '10m',
    });
    expect(server().received[0]!.headers.authorization).toBeUndefined();
  });

  it('a model that is not pulled → PROVIDER_CONFIG telling to run ollama pull', async () => {
    server().handle((_request, res) =>
      sendJson(res, 404, { error: 'model "nomic-embed-text" not found, try pulling it first' }),
    );
    const error = await caught(make(server().url).embed(['x'], { inputType: 'document' }));
    expect(error).toMatchObject({ code: 'PROVIDER_CONFIG', kind: 'configuration' });
    expect(error.message).toContain('ollama pull nomic-embed-text');
  });

  it('an input over the context (truncate false) → INPUT_TOO_LONG, permanent', async () => {
    server().handle((_request, res) =>
      sendJson(res, 400, { error: 'the input length exceeds the context length' }),
    );
    const error = await caught(make(server().url).embed(['x'], { inputType: 'document' }));
    expect(error).toMatchObject({ code: 'INPUT_TOO_LONG', kind: 'permanent' });
  });

  it('learns the dimensions of an unknown model, defaults to localhost:11434, rejects a bad keep_alive', () => {
    expect(createProvider({ provider: 'ollama', model: 'my-embedder' }).dimensions).toBeUndefined();
    expect(createProvider({ provider: 'ollama', model: 'mxbai-embed-large' })).toMatchObject({
      dimensions: 1024,
      maxInputTokens: 512,
      tokenCountExact: false,
    });
    expect(() => createProvider({ provider: 'ollama', model: 'all-minilm', keepAlive: 'forever' })).toThrow(
      /keepAlive/,
    );
  });
});
