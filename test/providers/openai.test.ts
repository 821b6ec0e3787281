/**
 * The openai provider against a local HTTP server speaking OpenAI's embeddings wire format
 * (https://platform.openai.com/docs/api-reference/embeddings), including its error bodies.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type ErrorKind,
  isPgembedError,
  type PgembedError,
  type PgembedErrorCode,
} from '../../src/errors.js';
import {
  createOpenAIProvider,
  decodeBase64Float32,
  type OpenAIProviderOptions,
  parseRetryAfter,
} from '../../src/providers/openai.js';

const KEY = 'sk-test-9f8e7d6c5b4a39281706abcdefSECRET';
const SECRET_INPUT = 'confidential row: patient 4711 has condition X';

interface Recorded {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
}
type Handler = (request: Recorded, res: ServerResponse) => void;

let server: Server;
let baseUrl: string;
let handler: Handler;
const received: Recorded[] = [];

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const recorded: Recorded = {
      method: req.method,
      url: req.url,
      headers: req.headers,
      body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>,
    };
    received.push(recorded);
    handler(recorded, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});

afterEach(() => {
  received.length = 0;
});

afterAll(async () => {
  // Hanging handlers never end their responses; the client already gave up on them.
  server.closeAllConnections();
  server.close();
  await once(server, 'close');
});

/** Float32 values, little-endian, base64: what OpenAI sends for `encoding_format: 'base64'`. */
function toBase64(vector: readonly number[]): string {
  const bytes = Buffer.alloc(vector.length * 4);
  for (const [i, value] of vector.entries()) bytes.writeFloatLE(value, i * 4);
  return bytes.toString('base64');
}

/** A deterministic vector per input, exactly representable in float32. */
function vectorFor(text: string, dimensions: number): number[] {
  return Array.from({ length: dimensions }, (_, i) => Math.fround(((text.length + 1) * (i + 1)) / 1024));
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function openaiError(message: string, type: string, code: string | null, param: string | null = null) {
  return { error: { message, type, param, code } };
}

interface ServeOptions {
  format?: 'base64' | 'float';
  dimensions?: number;
  reverse?: boolean;
}

/** Answers like OpenAI: one embedding per input, `index` pointing at the input. */
function serveEmbeddings(options: ServeOptions = {}): Handler {
  return (request, res) => {
    const input = request.body.input as string[];
    const dimensions = options.dimensions ?? 8;
    const format = options.format ?? request.body.encoding_format ?? 'float';
    const data = input.map((text, index) => {
      const vector = vectorFor(text, dimensions);
      return { object: 'embedding', index, embedding: format === 'base64' ? toBase64(vector) : vector };
    });
    if (options.reverse) data.reverse();
    sendJson(res, 200, {
      object: 'list',
      data,
      model: request.body.model,
      usage: { prompt_tokens: input.length * 3, total_tokens: input.length * 3 },
    });
  };
}

function provider(options: Partial<OpenAIProviderOptions> = {}, now?: () => number) {
  return createOpenAIProvider(
    { model: 'text-embedding-3-small', dimensions: 8, baseUrl, timeoutMs: 2000, ...options },
    { env: { OPENAI_API_KEY: KEY, OTHER_KEY: KEY }, ...(now ? { now } : {}) },
  );
}

const embedOptions = { inputType: 'document' } as const;

/** Awaits a rejection and checks that nothing secret leaked into any rendering of the error. */
async function failure(
  promise: Promise<unknown>,
  code: PgembedErrorCode,
  kind: ErrorKind,
): Promise<PgembedError> {
  const error: unknown = await promise.then(
    () => new Error('expected the call to fail'),
    (rejection: unknown) => rejection,
  );
  if (!isPgembedError(error)) throw error;
  expect({ code: error.code, kind: error.kind }).toEqual({ code, kind });
  for (const rendering of [error.message, String(error), error.stack ?? '', inspect(error, { depth: 5 })]) {
    expect(rendering).not.toContain(KEY);
    expect(rendering).not.toContain(KEY.slice(-12));
    expect(rendering).not.toContain(SECRET_INPUT);
  }
  return error;
}

describe('openai provider: requests and responses', () => {
  it('sends the key as a Bearer token and the documented body, and decodes base64 float32', async () => {
    handler = serveEmbeddings({ format: 'base64' });
    const vectors = await provider({ dimensions: 8 }).embed(['a', 'bb'], embedOptions);
    expect(vectors).toEqual([vectorFor('a', 8), vectorFor('bb', 8)]);
    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request!.method).toBe('POST');
    expect(request!.url).toBe('/v1/embeddings');
    expect(request!.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(request!.headers['content-type']).toBe('application/json');
    expect(request!.body).toEqual({
      model: 'text-embedding-3-small',
      input: ['a', 'bb'],
      encoding_format: 'base64',
      dimensions: 8,
    });
  });

  it('sends dimensions only to text-embedding-3 models', async () => {
    handler = serveEmbeddings({ dimensions: 1536 });
    await provider({ model: 'text-embedding-ada-002', dimensions: undefined }).embed(['x'], embedOptions);
    await provider({ model: 'text-embedding-3-large', dimensions: undefined, timeoutMs: 5000 })
      .embed(['x'], embedOptions)
      .catch(() => undefined); // 1536 ≠ 3072: only the request matters here
    expect(received.map((request) => 'dimensions' in request.body)).toEqual([false, false]);
  });

  it('accepts float arrays from servers that ignore encoding_format', async () => {
    handler = serveEmbeddings({ format: 'float' });
    const vectors = await provider().embed(['one', 'three'], embedOptions);
    expect(vectors).toEqual([vectorFor('one', 8), vectorFor('three', 8)]);
  });

  it('puts out-of-order results back in input order by index', async () => {
    handler = serveEmbeddings({ format: 'base64', reverse: true });
    const texts = ['a', 'bb', 'ccc', 'dddd', 'eeeee'];
    const vectors = await provider().embed(texts, embedOptions);
    expect(vectors).toEqual(texts.map((text) => vectorFor(text, 8)));
  });

  it('reads the key from the configured environment variable and strips a trailing slash', async () => {
    handler = serveEmbeddings();
    await provider({ apiKeyEnv: 'OTHER_KEY', baseUrl: `${baseUrl}/` }).embed(['x'], embedOptions);
    expect(received[0]!.url).toBe('/v1/embeddings');
  });

  it('learns the dimensions of an unknown model from the first answer, then enforces them', async () => {
    handler = serveEmbeddings({ dimensions: 5 });
    const compatible = provider({ model: 'nomic-embed-text', dimensions: undefined });
    expect(compatible.dimensions).toBeUndefined();
    await compatible.embed(['x'], embedOptions);
    expect(compatible.dimensions).toBe(5);
    handler = serveEmbeddings({ dimensions: 6 });
    await failure(compatible.embed(['x'], embedOptions), 'DIMENSION_MISMATCH', 'permanent');
  });

  it('makes no request for an empty batch', async () => {
    expect(await provider().embed([], embedOptions)).toEqual([]);
    expect(received).toHaveLength(0);
  });
});

describe('openai provider: error classification', () => {
  it('400 → PROVIDER_INPUT_REJECTED, permanent, with OpenAI’s message but not the inputs', async () => {
    handler = (_request, res) =>
      sendJson(
        res,
        400,
        openaiError(
          `This model's maximum context length is 8192 tokens, however you requested 9000 tokens. Input: ${SECRET_INPUT}`,
          'invalid_request_error',
          null,
          'input',
        ),
      );
    const error = await failure(
      provider().embed([SECRET_INPUT], embedOptions),
      'PROVIDER_INPUT_REJECTED',
      'permanent',
    );
    expect(error.message).toContain("This model's maximum context length is 8192 tokens");
    expect(error.message).toContain('HTTP 400');
  });

  it('401 → PROVIDER_AUTH, configuration, naming the variable, without the (masked) key', async () => {
    handler = (_request, res) =>
      sendJson(
        res,
        401,
        openaiError(
          `Incorrect API key provided: sk-test-****************************${KEY.slice(-4)}. You can find your API key at https://platform.openai.com/account/api-keys.`,
          'invalid_request_error',
          'invalid_api_key',
        ),
      );
    const error = await failure(provider().embed(['x'], embedOptions), 'PROVIDER_AUTH', 'configuration');
    expect(error.message).toContain('OPENAI_API_KEY');
    expect(error.message).toContain('Incorrect API key provided');
    expect(error.message).not.toContain(KEY.slice(-4));
  });

  it('403 → PROVIDER_AUTH, configuration', async () => {
    handler = (_request, res) =>
      sendJson(res, 403, openaiError('You are not allowed to use this model', 'invalid_request_error', null));
    await failure(provider().embed(['x'], embedOptions), 'PROVIDER_AUTH', 'configuration');
  });

  it('404 → PROVIDER_CONFIG, configuration (unknown model)', async () => {
    handler = (_request, res) =>
      sendJson(
        res,
        404,
        openaiError(
          'The model `text-embedding-4` does not exist or you do not have access to it.',
          'invalid_request_error',
          'model_not_found',
        ),
      );
    const error = await failure(
      provider({ model: 'text-embedding-4', dimensions: undefined }).embed(['x'], embedOptions),
      'PROVIDER_CONFIG',
      'configuration',
    );
    expect(error.message).toContain('text-embedding-4');
  });

  it('429 → PROVIDER_RATE_LIMITED, retriable, with retryAfterSeconds from Retry-After seconds', async () => {
    handler = (_request, res) =>
      sendJson(
        res,
        429,
        openaiError(
          'Rate limit reached for text-embedding-3-small in organization org-abc on requests per min (RPM): Limit 3000, Used 3000, Requested 1.',
          'requests',
          'rate_limit_exceeded',
        ),
        { 'retry-after': '7' },
      );
    const error = await failure(provider().embed(['x'], embedOptions), 'PROVIDER_RATE_LIMITED', 'retriable');
    expect(error.retryAfterSeconds).toBe(7);
  });

  it('429 with an HTTP-date Retry-After, measured against the injected clock', async () => {
    const now = Date.parse('Wed, 21 Oct 2026 07:28:00 GMT');
    handler = (_request, res) =>
      sendJson(res, 429, openaiError('Rate limit reached', 'requests', 'rate_limit_exceeded'), {
        'retry-after': 'Wed, 21 Oct 2026 07:28:30 GMT',
      });
    const error = await failure(
      provider({}, () => now).embed(['x'], embedOptions),
      'PROVIDER_RATE_LIMITED',
      'retriable',
    );
    expect(error.retryAfterSeconds).toBe(30);
  });

  it('429 prefers retry-after-ms', async () => {
    handler = (_request, res) =>
      sendJson(res, 429, openaiError('Rate limit reached', 'tokens', 'rate_limit_exceeded'), {
        'retry-after': '2',
        'retry-after-ms': '1500',
      });
    const error = await failure(provider().embed(['x'], embedOptions), 'PROVIDER_RATE_LIMITED', 'retriable');
    expect(error.retryAfterSeconds).toBe(1.5);
  });

  it('429 insufficient_quota → PROVIDER_AUTH, configuration: waiting will not help', async () => {
    handler = (_request, res) =>
      sendJson(
        res,
        429,
        openaiError(
          'You exceeded your current quota, please check your plan and billing details.',
          'insufficient_quota',
          'insufficient_quota',
        ),
      );
    await failure(provider().embed(['x'], embedOptions), 'PROVIDER_AUTH', 'configuration');
  });

  it('500 → PROVIDER_UNAVAILABLE, retriable', async () => {
    handler = (_request, res) =>
      sendJson(
        res,
        500,
        openaiError('The server had an error while processing your request.', 'server_error', null),
      );
    await failure(provider().embed(['x'], embedOptions), 'PROVIDER_UNAVAILABLE', 'retriable');
  });

  it('an HTML 502 page → PROVIDER_UNAVAILABLE without the page in the message', async () => {
    handler = (_request, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html><body><h1>502 Bad Gateway</h1></body></html>');
    };
    const error = await failure(provider().embed(['x'], embedOptions), 'PROVIDER_UNAVAILABLE', 'retriable');
    expect(error.message).not.toContain('<html>');
  });

  it('a server that hangs past timeoutMs → PROVIDER_TIMEOUT, retriable', async () => {
    handler = () => {}; // never answers
    const started = performance.now();
    const error = await failure(
      provider({ timeoutMs: 200 }).embed(['x'], embedOptions),
      'PROVIDER_TIMEOUT',
      'retriable',
    );
    // Not before the configured timeout; no upper bound (a loaded machine may be slow to wake us,
    // and a timeout that never fires fails by the test's own). The message names the timeout that
    // fired: 200 ms, not the 2 s of provider() nor the 30 s default.
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    expect(error.message).toContain('did not answer within 200 ms');
  });

  it('a body that stalls mid-stream also times out', async () => {
    handler = (_request, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"object":"list","data":[');
    };
    await failure(provider({ timeoutMs: 200 }).embed(['x'], embedOptions), 'PROVIDER_TIMEOUT', 'retriable');
  });

  it("the caller's abort rejects with the caller's reason, not a provider error", async () => {
    handler = () => {};
    const controller = new AbortController();
    const pending = provider().embed(['x'], { inputType: 'document', signal: controller.signal });
    setTimeout(() => controller.abort(new Error('worker stopping')), 50);
    await expect(pending).rejects.toThrow('worker stopping');
  });

  it('a connection reset → PROVIDER_UNAVAILABLE, retriable', async () => {
    handler = (_request, res) => res.socket?.destroy();
    await failure(provider().embed(['x'], embedOptions), 'PROVIDER_UNAVAILABLE', 'retriable');
  });

  it('a refused connection → PROVIDER_UNAVAILABLE, retriable', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    await once(closed, 'close');
    const error = await failure(
      provider({ baseUrl: `http://127.0.0.1:${port}/v1` }).embed(['x'], embedOptions),
      'PROVIDER_UNAVAILABLE',
      'retriable',
    );
    expect(error.message).toContain('ECONNREFUSED');
  });

  it('malformed JSON → PROVIDER_BAD_RESPONSE, retriable', async () => {
    handler = (_request, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"object":"list","data":[{"object":"embedding",');
    };
    await failure(provider().embed(['x'], embedOptions), 'PROVIDER_BAD_RESPONSE', 'retriable');
  });

  it('the wrong number of embeddings → PROVIDER_BAD_RESPONSE', async () => {
    const serve = serveEmbeddings();
    handler = (request, res) => serve({ ...request, body: { ...request.body, input: ['only one'] } }, res);
    await failure(provider().embed(['a', 'b'], embedOptions), 'PROVIDER_BAD_RESPONSE', 'retriable');
  });

  it('duplicate indexes → PROVIDER_BAD_RESPONSE', async () => {
    handler = (_request, res) =>
      sendJson(res, 200, {
        object: 'list',
        data: [0, 0].map((index) => ({ object: 'embedding', index, embedding: vectorFor('x', 8) })),
        model: 'text-embedding-3-small',
        usage: { prompt_tokens: 2, total_tokens: 2 },
      });
    await failure(provider().embed(['a', 'b'], embedOptions), 'PROVIDER_BAD_RESPONSE', 'retriable');
  });

  it('base64 that is not whole float32 values → PROVIDER_BAD_RESPONSE', async () => {
    handler = (_request, res) =>
      sendJson(res, 200, {
        object: 'list',
        data: [{ object: 'embedding', index: 0, embedding: Buffer.alloc(6).toString('base64') }],
        model: 'text-embedding-3-small',
        usage: { prompt_tokens: 1, total_tokens: 1 },
      });
    await failure(provider().embed(['a'], embedOptions), 'PROVIDER_BAD_RESPONSE', 'retriable');
  });

  it('vectors of the wrong length → DIMENSION_MISMATCH, permanent', async () => {
    handler = serveEmbeddings({ format: 'base64', dimensions: 1536 });
    const error = await failure(
      provider({ dimensions: 512 }).embed(['x'], embedOptions),
      'DIMENSION_MISMATCH',
      'permanent',
    );
    expect(error.message).toContain('1536');
    expect(error.message).toContain('512');
  });
});

describe('openai provider: configuration', () => {
  it('a missing key → PROVIDER_CONFIG naming the variable', () => {
    let caught: unknown;
    try {
      createOpenAIProvider(
        { model: 'text-embedding-3-small', apiKeyEnv: 'PGEMBED_TEST_NO_SUCH_KEY' },
        { env: {} },
      );
    } catch (error) {
      caught = error;
    }
    expect(caught).toMatchObject({ code: 'PROVIDER_CONFIG', kind: 'configuration' });
    expect((caught as Error).message).toContain('PGEMBED_TEST_NO_SUCH_KEY');
  });

  it('a key with a newline inside is refused without quoting it', () => {
    const badKey = `${KEY}\nX-Injected: 1`;
    expect(() =>
      createOpenAIProvider({ model: 'text-embedding-3-small' }, { env: { OPENAI_API_KEY: badKey } }),
    ).toThrow(/OPENAI_API_KEY contains characters/);
    try {
      createOpenAIProvider({ model: 'text-embedding-3-small' }, { env: { OPENAI_API_KEY: badKey } });
    } catch (error) {
      expect(String(error)).not.toContain(KEY);
    }
  });

  it('rejects dimensions a model cannot produce', () => {
    const env = { env: { OPENAI_API_KEY: KEY } };
    expect(() => createOpenAIProvider({ model: 'text-embedding-3-small', dimensions: 2000 }, env)).toThrow(
      'dimensions for text-embedding-3-small must be at most 1536',
    );
    expect(() => createOpenAIProvider({ model: 'text-embedding-ada-002', dimensions: 512 }, env)).toThrow(
      'text-embedding-ada-002 always returns 1536 dimensions; remove dimensions or set it to 1536',
    );
    expect(createOpenAIProvider({ model: 'text-embedding-3-large' }, env)).toMatchObject({
      dimensions: 3072,
      maxBatchSize: 2048,
      maxInputTokens: 8192,
    });
  });
});

describe('wire helpers', () => {
  it('decodeBase64Float32 reads little-endian float32', () => {
    const bytes = Buffer.from([0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0]); // 1.0, -2.0 in LE
    expect(decodeBase64Float32(bytes.toString('base64'))).toEqual([1, -2]);
    expect(decodeBase64Float32('not base64!')).toBeUndefined();
  });

  it('parseRetryAfter falls back to x-ratelimit-reset-* for the exhausted limit', () => {
    const headers = new Headers({
      'x-ratelimit-remaining-requests': '10',
      'x-ratelimit-reset-requests': '1s',
      'x-ratelimit-remaining-tokens': '0',
      'x-ratelimit-reset-tokens': '6m0s',
    });
    expect(parseRetryAfter(headers, 0)).toBe(360);
    expect(
      parseRetryAfter(
        new Headers({ 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '20ms' }),
        0,
      ),
    ).toBe(0.02);
    expect(parseRetryAfter(new Headers(), 0)).toBeUndefined();
  });
});
