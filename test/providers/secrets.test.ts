/**
 * No fragment of an API key reaches a provider error: every HTTP provider, against a local server
 * speaking its error format and quoting the key (as careless servers and proxies do), with keys
 * shaped like that provider's real ones and opaque ones, placed at the start, across the point where
 * messages are cut (every offset around 300 characters), at the end of long bodies, split, masked,
 * URL-encoded, and at any offset of any body (fast-check). A leak is any run of 6 or more
 * characters of the key in the error's message, its enumerable fields or its cause chain.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createProvider, type ProviderDeps } from '../../src/providers/index.js';
import type { EmbeddingProvider } from '../../src/providers/types.js';
import { BASE62, exposedBy, keyFragments, randomText, URLSAFE } from './support/leaks.js';
import { caught, type Recorded, sendJson, startTestServer, type TestServer } from './support/server.js';

const INPUT = 'confidential row: patient 4711 has condition X';

interface ProviderCase {
  name: string;
  /** Keys shaped like this provider's real ones, then opaque ones. */
  keys: string[];
  make(url: string, key: string, deps?: ProviderDeps): EmbeddingProvider;
  /** The provider's error body carrying `message`. */
  errorBody(status: number, message: string): unknown;
}

const CASES: ProviderCase[] = [
  {
    name: 'openai',
    keys: [
      `sk-proj-${randomText(1, 156, URLSAFE)}`,
      `sk-${randomText(2, 48, BASE62)}`,
      `sk-svcacct-${randomText(3, 74, URLSAFE)}`,
    ],
    make: (url, key, deps = {}) =>
      createProvider(
        { provider: 'openai', model: 'text-embedding-3-small', dimensions: 8, baseUrl: `${url}/v1` },
        { env: { OPENAI_API_KEY: key }, ...deps },
      ),
    errorBody: (status, message) => ({
      error: {
        message,
        type: status === 401 ? 'invalid_request_error' : 'server_error',
        param: null,
        code: null,
      },
    }),
  },
  {
    // vLLM (`--api-key`, any token; `{object: "error", message}` bodies) and LiteLLM (`sk-…` keys).
    name: 'openai-compatible',
    keys: ['token-abc123', 'sk-1234', `sk-${randomText(4, 22, URLSAFE)}`, 'Zx!9#q$Lm%2&Vb*7(Np)=+/~'],
    make: (url, key, deps = {}) =>
      createProvider(
        {
          provider: 'openai',
          model: 'my-embedder',
          dimensions: 8,
          baseUrl: `${url}/v1`,
          apiKeyEnv: 'VLLM_KEY',
        },
        { env: { VLLM_KEY: key }, ...deps },
      ),
    errorBody: (status, message) => ({
      object: 'error',
      message,
      type: 'BadRequestError',
      param: null,
      code: status,
    }),
  },
  {
    name: 'azure-openai',
    keys: [randomText(5, 32, '0123456789abcdef'), randomText(6, 84, BASE62)],
    make: (url, key, deps = {}) =>
      createProvider(
        { provider: 'azure-openai', model: 'text-embedding-3-small', dimensions: 8, baseUrl: url },
        { env: { AZURE_OPENAI_API_KEY: key }, ...deps },
      ),
    errorBody: (status, message) => ({ error: { code: String(status), message } }),
  },
  {
    name: 'voyage',
    keys: [`pa-${randomText(7, 43, URLSAFE)}`],
    make: (url, key, deps = {}) =>
      createProvider(
        { provider: 'voyage', model: 'voyage-3.5', dimensions: 256, baseUrl: `${url}/v1` },
        { env: { VOYAGE_API_KEY: key }, ...deps },
      ),
    errorBody: (_status, message) => ({ detail: message }),
  },
  {
    name: 'cohere',
    keys: [randomText(8, 40, BASE62)],
    make: (url, key, deps = {}) =>
      createProvider(
        { provider: 'cohere', model: 'embed-v4.0', dimensions: 256, baseUrl: url },
        { env: { CO_API_KEY: key }, ...deps },
      ),
    errorBody: (_status, message) => ({ id: 'c1d1e9a2-7f0b-4c55-9a57-8f3e2c1b0a99', message }),
  },
  {
    // An Ollama behind an authenticating proxy: a JWT bearer token.
    name: 'ollama',
    keys: [
      `eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.${randomText(9, 60, URLSAFE)}.${randomText(10, 43, URLSAFE)}`,
    ],
    make: (url, key, deps = {}) =>
      createProvider(
        { provider: 'ollama', model: 'nomic-embed-text', baseUrl: url, apiKeyEnv: 'OLLAMA_PROXY_TOKEN' },
        { env: { OLLAMA_PROXY_TOKEN: key }, ...deps },
      ),
    errorBody: (_status, message) => ({ error: message }),
  },
];

/** How the request's credential looks when a server quotes it back. */
const credentialOf = (request: Recorded): string =>
  String(request.headers.authorization ?? request.headers['api-key'] ?? '');

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
});

/** The provider's error for one answer of `status` carrying `message` (built from the request). */
async function errorFor(
  spec: ProviderCase,
  key: string,
  status: number,
  message: (request: Recorded) => string,
  headers: Record<string, string> = {},
): Promise<Error & Record<string, unknown>> {
  server.handle((request, res) => sendJson(res, status, spec.errorBody(status, message(request)), headers));
  return caught(spec.make(server.url, key).embed([INPUT], { inputType: 'document' }));
}

function expectNoLeak(error: unknown, key: string): void {
  const exposed = exposedBy(error);
  expect(keyFragments(exposed, key), exposed).toEqual([]);
  expect(exposed).not.toContain(INPUT);
}

/** What a PgembedError's own fields say, whatever the provider answered. */
const OUR_VOCABULARY =
  'PgembedError name code kind retryAfterSeconds configuration retriable permanent ' +
  'PROVIDER_AUTH PROVIDER_CONFIG PROVIDER_INPUT_REJECTED PROVIDER_RATE_LIMITED PROVIDER_TIMEOUT ' +
  'PROVIDER_UNAVAILABLE PROVIDER_BAD_RESPONSE INPUT_TOO_LONG';

const filler = (length: number) =>
  'The request could not be processed. '.repeat(Math.ceil(length / 36)).slice(0, length);

describe.each(CASES)('$name: no fragment of the key in an error', (spec) => {
  // Titles name the key's shape, not the key.
  const keys = spec.keys.map((key) => [`${key.slice(0, 3)}… (${key.length} characters)`, key] as const);

  it.each(keys)(
    'key %s at the start and at the end of a long body, for every status class',
    async (_shape, key) => {
      for (const status of [400, 401, 402, 403, 404, 408, 413, 422, 429, 498, 500, 503]) {
        const headers: Record<string, string> = status === 429 ? { 'retry-after': '60' } : {};
        expectNoLeak(
          await errorFor(spec, key, status, (r) => `${credentialOf(r)} ${filler(2000)}`, headers),
          key,
        );
        expectNoLeak(await errorFor(spec, key, status, () => `${key}${filler(2000)}`, headers), key);
        expectNoLeak(
          await errorFor(spec, key, status, (r) => `${filler(2000)} ${credentialOf(r)}`, headers),
          key,
        );
        expectNoLeak(await errorFor(spec, key, status, () => `${filler(3000)}${key}`, headers), key);
      }
    },
  );

  it.each(keys)('key %s across the cut: every offset around 300 characters', async (_shape, key) => {
    for (let offset = 300 - key.length - 2; offset <= 302; offset++) {
      const message = `${filler(Math.max(0, offset))}${key}${filler(400)}`;
      expectNoLeak(await errorFor(spec, key, 500, () => message), key);
    }
  });

  it.each(keys)('key %s split, masked, encoded or quoted with the input', async (_shape, key) => {
    const half = Math.ceil(key.length / 2);
    const forms = [
      // A provider cutting its own message in the middle of the key.
      `Invalid token ${key.slice(0, half)}... (truncated)`,
      `token ending ${key.slice(half)} is invalid`,
      // Masked hints as providers print them; the last 4 characters alone are acceptable.
      `Incorrect API key provided: ${key.slice(0, 8)}${'*'.repeat(20)}${key.slice(-4)}.`,
      `Received API Key = ${key.slice(0, 7)}...${key.slice(-4)}`,
      `key=${encodeURIComponent(key)}&input=${encodeURIComponent(INPUT)}`,
      `request ${JSON.stringify({ headers: { authorization: `Bearer ${key}` }, input: [INPUT] })}`,
      `key\n${key.slice(0, 10)}\n${key.slice(10)}`,
    ];
    for (const form of forms) {
      const error = await errorFor(spec, key, 401, () => form);
      expect(error).toMatchObject({ code: 'PROVIDER_AUTH' });
      expectNoLeak(error, key);
    }
  });

  it.each(keys)('key %s in a body that is not the error format, or not JSON', async (_shape, key) => {
    const bodies = [
      `<html><body><h1>502 Bad Gateway</h1><p>upstream rejected ${key}</p></body></html>`,
      `{"unexpected": "${key}", "input": ${JSON.stringify(INPUT)}`,
      JSON.stringify({ error: { message: { nested: key } }, key }),
    ];
    for (const status of [200, 401, 500]) {
      for (const body of bodies) {
        server.handle((_request, res) => {
          res.writeHead(status, { 'content-type': 'application/json', 'x-echo': key });
          res.end(body);
        });
        expectNoLeak(await caught(spec.make(server.url, key).embed([INPUT], { inputType: 'document' })), key);
      }
    }
  });

  it.each(keys)('key %s in the messages a provider classifies itself', async (_shape, key) => {
    // Ollama's context and pull errors, Voyage's and Cohere's unknown model, Cohere's 402/498.
    const said = [
      [400, `the input length exceeds the context length (${filler(280)} ${key})`],
      [400, `model "${key}" not found, try pulling it first`],
      [400, `Model ${key} is not supported. ${filler(260)}${key}`],
      [400, `model ${filler(250)}${key} does not exist`],
      [402, `Please add a payment method for ${key}`],
      [498, `invalid api token ${filler(290)}${key}`],
    ] as const;
    for (const [status, message] of said) {
      expectNoLeak(await errorFor(spec, key, status, () => message), key);
    }
  });

  it.each(keys)('key %s in a network failure and its cause', async (_shape, key) => {
    // undici's `TypeError: fetch failed` carries the socket error as its cause, and some of its
    // errors keep the request's headers as a field.
    const failures: unknown[] = [
      new TypeError('fetch failed', {
        cause: Object.assign(new Error(`other side closed while sending Bearer ${key}`), {
          code: 'UND_ERR_SOCKET',
          headers: { authorization: `Bearer ${key}` },
        }),
      }),
      new Error(`socket hang up after ${key.slice(3)}`),
      new TypeError(`invalid header value ${key.slice(0, -2)}`, { cause: key }),
    ];
    for (const failure of failures) {
      const fetchFails = (async () => {
        throw failure;
      }) as typeof fetch;
      const error = await caught(
        spec.make(server.url, key, { fetch: fetchFails }).embed([INPUT], { inputType: 'document' }),
      );
      expect(error).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', kind: 'retriable' });
      expectNoLeak(error, key);
    }
  });

  it('any key at any offset of any body (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.constantFrom(...spec.keys),
          fc
            .string({ unit: fc.constantFrom(...URLSAFE), minLength: 12, maxLength: 200 })
            // A key that spells one of our own field names or codes cannot be told apart from them.
            .filter((key) => keyFragments(OUR_VOCABULARY, key).length === 0),
        ),
        // Where the key starts, uniformly up to past the cut, and any text around it.
        fc.nat({ max: 700 }),
        fc.string({ minLength: 1, maxLength: 30 }),
        fc.string({ maxLength: 700 }),
        fc.constantFrom(400, 401, 404, 429, 500),
        async (key, offset, pattern, after, status) => {
          const before = pattern.repeat(Math.ceil(offset / pattern.length)).slice(0, offset);
          const headers: Record<string, string> = status === 429 ? { 'retry-after': '60' } : {};
          const error = await errorFor(spec, key, status, () => `${before}${key}${after}`, headers);
          const exposed = exposedBy(error);
          return keyFragments(exposed, key).length === 0 && !exposed.includes(INPUT);
        },
      ),
      { numRuns: 100 },
    );
  });
});
