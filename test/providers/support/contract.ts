/**
 * The failure contract every HTTP provider honours, run against its own wire format: 401 →
 * PROVIDER_AUTH (configuration), 429 with a long Retry-After → PROVIDER_RATE_LIMITED carrying it, a
 * short one waited out in-process, a 429 with no headers at all (Cohere, Voyage and Ollama document
 * none) waited out as 1 s, at most 3 inline retries before the error goes to the worker, 500 → PROVIDER_UNAVAILABLE, a hung server → PROVIDER_TIMEOUT,
 * malformed JSON → PROVIDER_BAD_RESPONSE, the wrong dimension → DIMENSION_MISMATCH, a refused
 * connection → PROVIDER_UNAVAILABLE; messages never carry the key (nor any 6 characters of it) or
 * the inputs, even when the server quotes both back.
 */
import type { ServerResponse } from 'node:http';
import { inspect } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { EmbeddingProvider } from '../../../src/providers/types.js';
import { exposedBy, keyFragments } from './leaks.js';
import { caught, type Recorded, sendJson, startTestServer, type TestServer } from './server.js';

export const KEY = 'test-key-9f8e7d6c5b4a39281706abcdefSECRET';
export const SECRET_INPUT = 'confidential row: patient 4711 has condition X';

export interface ContractSpec {
  name: string;
  /** Path the provider must POST to (with query string, if any). */
  path: string;
  /** Builds the provider against the test server at `url`. */
  make(url: string, options?: { dimensions?: number; timeoutMs?: number }): EmbeddingProvider;
  /** Dimensions the provider expects by default. */
  dimensions: number;
  /** A success body in the provider's format for the recorded request. */
  ok(request: Recorded, dimensions: number): unknown;
  /** An error body in the provider's format, carrying `message` where the provider puts it. */
  error(status: number, message: string): unknown;
  /** Whether the request carries the key (false for keyless providers such as Ollama). */
  sendsKey: boolean;
}

export function runContract(spec: ContractSpec): { server: () => TestServer } {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterEach(() => {
    server.received.length = 0;
  });
  afterAll(async () => {
    await server.close();
  });

  const answer =
    (dimensions = spec.dimensions) =>
    (request: Recorded, res: ServerResponse) =>
      sendJson(res, 200, spec.ok(request, dimensions));
  const fails = async (status: number, headers: Record<string, string> = {}) => {
    // As careless servers and proxies do, the error quotes the credential and the input it got.
    server.handle((request, res) =>
      sendJson(res, status, spec.error(status, `failure ${status}: ${echo(request)}`), headers),
    );
    return caught(spec.make(server.url).embed([SECRET_INPUT], { inputType: 'document' }));
  };
  const expectNothingLeaked = (error: unknown) => {
    expect(keyFragments(exposedBy(error), KEY)).toEqual([]);
    expect(inspect(error)).not.toContain(KEY);
    expect(inspect(error)).not.toContain(SECRET_INPUT);
  };

  describe(`${spec.name}: failure contract`, () => {
    it('embeds a batch in input order', async () => {
      server.handle(answer());
      const vectors = await spec.make(server.url).embed(['a', 'bb', 'ccc'], { inputType: 'document' });
      expect(vectors).toHaveLength(3);
      expect(vectors.map((v) => v.length)).toEqual([spec.dimensions, spec.dimensions, spec.dimensions]);
      expect(vectors[0]).not.toEqual(vectors[1]);
      expect(server.received[0]!.url).toBe(spec.path);
      expect(server.received[0]!.method).toBe('POST');
    });

    it('401 → PROVIDER_AUTH, configuration, without the key or the input', async () => {
      const error = await fails(401);
      expect(error).toMatchObject({ code: 'PROVIDER_AUTH', kind: 'configuration' });
      expect(error.message).toContain('failure 401');
      expectNothingLeaked(error);
    });

    it('429 with a long Retry-After → PROVIDER_RATE_LIMITED carrying it, after one request', async () => {
      const error = await fails(429, { 'retry-after': '30' });
      expect(error).toMatchObject({
        code: 'PROVIDER_RATE_LIMITED',
        kind: 'retriable',
        retryAfterSeconds: 30,
      });
      expect(server.received).toHaveLength(1);
    });

    it('429 with a short Retry-After is waited out in-process, then succeeds', async () => {
      let calls = 0;
      server.handle((request, res) => {
        calls++;
        if (calls === 1) {
          sendJson(res, 429, spec.error(429, 'slow down'), { 'retry-after-ms': '150' });
        } else {
          answer()(request, res);
        }
      });
      const began = performance.now();
      const vectors = await spec.make(server.url).embed(['x'], { inputType: 'document' });
      expect(vectors).toHaveLength(1);
      expect(calls).toBe(2);
      expect(performance.now() - began).toBeGreaterThanOrEqual(140);
    });

    it('429 with no headers at all is waited out in-process as 1 s, then succeeds', async () => {
      let calls = 0;
      server.handle((request, res) => {
        calls++;
        if (calls === 1) sendJson(res, 429, spec.error(429, 'slow down'));
        else answer()(request, res);
      });
      const began = performance.now();
      const vectors = await spec.make(server.url).embed(['x'], { inputType: 'document' });
      expect(vectors).toHaveLength(1);
      expect(calls).toBe(2);
      expect(performance.now() - began).toBeGreaterThanOrEqual(950);
    });

    it('429s without headers: 3 inline retries, 1 s apart, then PROVIDER_RATE_LIMITED for the worker', async () => {
      server.handle((_request, res) => sendJson(res, 429, spec.error(429, 'too many requests, slow down')));
      const began = performance.now();
      const error = await caught(spec.make(server.url).embed([SECRET_INPUT], { inputType: 'document' }));
      // One request and the in-process budget of 3 retries: the call stops, it does not spin.
      expect(server.received).toHaveLength(4);
      expect(performance.now() - began).toBeGreaterThanOrEqual(2_900);
      expect(error).toMatchObject({ code: 'PROVIDER_RATE_LIMITED', kind: 'retriable' });
      // No wait was given, so none is claimed: the worker's own backoff decides.
      expect(error.retryAfterSeconds).toBeUndefined();
      expect(error.message).toMatch(/rate-limited .*\(HTTP 429: too many requests, slow down\)/);
      expect(error.message).not.toMatch(/will retry/);
      expectNothingLeaked(error);
    });

    it('short Retry-Afters every time: the same budget of 3 inline retries, then the wait is passed on', async () => {
      server.handle((_request, res) =>
        sendJson(res, 429, spec.error(429, 'slow down'), { 'retry-after-ms': '50' }),
      );
      const error = await caught(spec.make(server.url).embed(['x'], { inputType: 'document' }));
      expect(server.received).toHaveLength(4);
      expect(error).toMatchObject({
        code: 'PROVIDER_RATE_LIMITED',
        kind: 'retriable',
        retryAfterSeconds: 0.05,
      });
    });

    it('500 → PROVIDER_UNAVAILABLE, retriable', async () => {
      const error = await fails(500);
      expect(error).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', kind: 'retriable' });
      expectNothingLeaked(error);
    });

    it('a hung server → PROVIDER_TIMEOUT, retriable', async () => {
      server.handle(() => {});
      const error = await caught(
        spec.make(server.url, { timeoutMs: 100 }).embed(['x'], { inputType: 'document' }),
      );
      expect(error).toMatchObject({ code: 'PROVIDER_TIMEOUT', kind: 'retriable' });
    });

    it('malformed JSON → PROVIDER_BAD_RESPONSE, retriable', async () => {
      server.handle((_request, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"data": [');
      });
      const error = await caught(spec.make(server.url).embed(['x'], { inputType: 'document' }));
      expect(error).toMatchObject({ code: 'PROVIDER_BAD_RESPONSE', kind: 'retriable' });
    });

    it('the wrong number of embeddings → PROVIDER_BAD_RESPONSE', async () => {
      server.handle(answer());
      const provider = spec.make(server.url);
      server.handle((request, res) =>
        sendJson(
          res,
          200,
          spec.ok({ ...request, body: { ...request.body, ...oneInput(request.body) } }, spec.dimensions),
        ),
      );
      const error = await caught(provider.embed(['a', 'b'], { inputType: 'document' }));
      expect(error).toMatchObject({ code: 'PROVIDER_BAD_RESPONSE' });
    });

    it('vectors of the wrong dimension → DIMENSION_MISMATCH, permanent', async () => {
      server.handle(answer(spec.dimensions + 1));
      const error = await caught(spec.make(server.url).embed(['x'], { inputType: 'document' }));
      expect(error).toMatchObject({ code: 'DIMENSION_MISMATCH', kind: 'permanent' });
    });

    it('a refused connection → PROVIDER_UNAVAILABLE', async () => {
      const error = await caught(spec.make('http://127.0.0.1:9').embed(['x'], { inputType: 'document' }));
      expect(error).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', kind: 'retriable' });
    });

    it('400 → PROVIDER_INPUT_REJECTED, permanent, without the input', async () => {
      const error = await fails(400);
      expect(error).toMatchObject({ code: 'PROVIDER_INPUT_REJECTED', kind: 'permanent' });
      expect(error.message).toContain('failure 400');
      expectNothingLeaked(error);
    });
  });
  return { server: () => server };
}

/** What a careless server quotes back: the credential it was sent and the inputs. */
function echo(request: Recorded): string {
  const credential = request.headers.authorization ?? request.headers['api-key'] ?? '(no credential)';
  const inputs = request.body.input ?? request.body.texts;
  return `credential ${String(credential)}, input ${JSON.stringify(inputs)}`;
}

/** The request body cut down to its first input, whatever the provider calls the field. */
function oneInput(body: Record<string, unknown>): Record<string, unknown> {
  for (const field of ['input', 'texts']) {
    const value = body[field];
    if (Array.isArray(value)) return { [field]: value.slice(0, 1) };
  }
  return {};
}
