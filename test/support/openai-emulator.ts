/**
 * A local server speaking OpenAI's embeddings API (POST /v1/embeddings, base64 or float vectors,
 * `usage`, error bodies), for tests that run real worker processes against it. Vectors are the
 * hash provider's vectors of each input, so a test can check every stored embedding.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hashEmbedding } from '../../src/providers/hash.js';

export const EMULATOR_KEY = 'sk-emulator-test-key-0123456789';
export const EMULATOR_MODEL = 'hash-v1';

export type Fault = 'server_error' | 'bad_request' | 'rate_limited' | 'wrong_dimensions';

export interface OpenAIEmulator {
  baseUrl: string;
  /** How many times each input text was embedded. */
  counts: Map<string, number>;
  requests: number;
  /** Milliseconds each request waits before answering (to catch workers mid-call). */
  delayMs: number;
  /** Answer every request with this fault instead of embeddings. */
  fault: Fault | undefined;
  /** Answer 400 to any request with an input containing this text. */
  poison: string | undefined;
  close(): Promise<void>;
}

export async function startOpenAIEmulator(options: { delayMs?: number } = {}): Promise<OpenAIEmulator> {
  const state = {
    counts: new Map<string, number>(),
    requests: 0,
    delayMs: options.delayMs ?? 0,
    fault: undefined as Fault | undefined,
    poison: undefined as string | undefined,
  };
  const server: Server = createServer(async (req, res) => {
    const body: Buffer[] = [];
    for await (const part of req) body.push(part as Buffer);
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(payload));
    };
    if (req.method !== 'POST' || req.url !== '/v1/embeddings') {
      return send(404, {
        error: {
          message: `Unknown request URL: ${req.method} ${req.url}`,
          type: 'invalid_request_error',
          param: null,
          code: 'unknown_url',
        },
      });
    }
    if (req.headers.authorization !== `Bearer ${EMULATOR_KEY}`) {
      return send(401, {
        error: {
          message: 'Incorrect API key provided.',
          type: 'invalid_request_error',
          param: null,
          code: 'invalid_api_key',
        },
      });
    }
    const request = JSON.parse(Buffer.concat(body).toString('utf8')) as {
      input: string[];
      model: string;
      dimensions?: number;
      encoding_format?: string;
    };
    state.requests++;
    if (state.delayMs) await new Promise((resolve) => setTimeout(resolve, state.delayMs));
    if (state.fault === 'server_error') {
      return send(500, {
        error: {
          message: 'The server had an error while processing your request.',
          type: 'server_error',
          param: null,
          code: null,
        },
      });
    }
    if (state.fault === 'rate_limited') {
      return send(
        429,
        {
          error: {
            message: 'Rate limit reached for requests',
            type: 'requests',
            param: null,
            code: 'rate_limit_exceeded',
          },
        },
        { 'retry-after': '1' },
      );
    }
    if (
      state.fault === 'bad_request' ||
      (state.poison && request.input.some((text) => text.includes(state.poison!)))
    ) {
      return send(400, {
        error: {
          message: "This model's maximum context length is 8192 tokens.",
          type: 'invalid_request_error',
          param: 'input',
          code: null,
        },
      });
    }
    const dims = (request.dimensions ?? 1536) + (state.fault === 'wrong_dimensions' ? 1 : 0);
    const data = request.input.map((text, index) => {
      state.counts.set(text, (state.counts.get(text) ?? 0) + 1);
      const vector = hashEmbedding(text, dims, EMULATOR_MODEL);
      const embedding =
        request.encoding_format === 'base64'
          ? Buffer.from(new Float32Array(vector).buffer).toString('base64')
          : vector;
      return { object: 'embedding', index, embedding };
    });
    const tokens = request.input.reduce((n, text) => n + Math.ceil(text.length / 4), 0);
    send(200, {
      object: 'list',
      data,
      model: request.model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const emulator: OpenAIEmulator = {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    get counts() {
      return state.counts;
    },
    get requests() {
      return state.requests;
    },
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(value: number) {
      state.delayMs = value;
    },
    get poison() {
      return state.poison;
    },
    set poison(value: string | undefined) {
      state.poison = value;
    },
    get fault() {
      return state.fault;
    },
    set fault(value: Fault | undefined) {
      state.fault = value;
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  } as OpenAIEmulator;
  return emulator;
}
