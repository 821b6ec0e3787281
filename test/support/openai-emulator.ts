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

export type Fault =
  | 'server_error'
  | 'bad_request'
  | 'rate_limited'
  | 'wrong_dimensions'
  | 'unauthorized'
  | 'malformed_json'
  | 'hang';

/**
 * OpenAI-style rate limits: token buckets of `requestsPerMinute` and `tokensPerMinute` that start full
 * and refill continuously; every answer carries `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`,
 * and a request over either limit gets 429 with `retry-after` (whole seconds, as OpenAI sends).
 */
export interface EmulatorLimits {
  requestsPerMinute: number;
  tokensPerMinute: number;
  /** Tokens of one input as the server counts them. Default: ceil(length / 4). */
  countTokens?: (text: string) => number;
  /** Embedding size when the request has no `dimensions`. Default 1536. */
  defaultDimensions?: number;
  /**
   * Start with empty buckets (a key that has been busy for a while) instead of full ones (a fresh
   * minute): then the allowed throughput over a run is exactly the per-minute rates.
   */
  startEmpty?: boolean;
}

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
  /** `retry-after` sent with the `rate_limited` fault (default "1"). */
  retryAfter: string;
  /** 429s answered (faults and limits). */
  readonly rateLimited: number;
  /** Input tokens of the requests answered with embeddings. */
  readonly acceptedTokens: number;
  /** performance.now() when the last embeddings were sent (0 before any). */
  readonly lastAnsweredAt: number;
  /** Restarts the rate-limit buckets (empty or full as configured), e.g. right before a measured run. */
  resetLimits(): void;
  close(): Promise<void>;
}

export async function startOpenAIEmulator(
  options: { delayMs?: number; limits?: EmulatorLimits } = {},
): Promise<OpenAIEmulator> {
  const state = {
    counts: new Map<string, number>(),
    requests: 0,
    delayMs: options.delayMs ?? 0,
    fault: undefined as Fault | undefined,
    poison: undefined as string | undefined,
    retryAfter: '1',
    rateLimited: 0,
    acceptedTokens: 0,
    lastAnsweredAt: 0,
  };
  const limits = options.limits;
  const countTokens = limits?.countTokens ?? ((text: string) => Math.ceil(text.length / 4));
  const buckets = limits
    ? limits.startEmpty
      ? { requests: 0, tokens: 0, at: performance.now() }
      : { requests: limits.requestsPerMinute, tokens: limits.tokensPerMinute, at: performance.now() }
    : undefined;
  /** Refills the buckets; returns the rate-limit headers after taking `tokens` (or a 429's wait). */
  const admit = (tokens: number): { headers: Record<string, string>; waitSeconds?: number } => {
    if (!limits || !buckets) return { headers: {} };
    const now = performance.now();
    const elapsedMin = (now - buckets.at) / 60_000;
    buckets.at = now;
    buckets.requests = Math.min(
      limits.requestsPerMinute,
      buckets.requests + elapsedMin * limits.requestsPerMinute,
    );
    buckets.tokens = Math.min(limits.tokensPerMinute, buckets.tokens + elapsedMin * limits.tokensPerMinute);
    const needRequests = Math.max(0, 1 - buckets.requests) / limits.requestsPerMinute;
    const needTokens =
      Math.max(0, Math.min(tokens, limits.tokensPerMinute) - buckets.tokens) / limits.tokensPerMinute;
    const ok = needRequests === 0 && needTokens === 0;
    if (ok) {
      buckets.requests -= 1;
      buckets.tokens -= tokens;
    }
    const resetRequests = ((limits.requestsPerMinute - buckets.requests) / limits.requestsPerMinute) * 60;
    const resetTokens =
      ((limits.tokensPerMinute - Math.max(0, buckets.tokens)) / limits.tokensPerMinute) * 60;
    const headers = {
      'x-ratelimit-limit-requests': String(limits.requestsPerMinute),
      'x-ratelimit-limit-tokens': String(limits.tokensPerMinute),
      'x-ratelimit-remaining-requests': String(Math.max(0, Math.floor(buckets.requests))),
      'x-ratelimit-remaining-tokens': String(Math.max(0, Math.floor(buckets.tokens))),
      'x-ratelimit-reset-requests': `${resetRequests.toFixed(3)}s`,
      'x-ratelimit-reset-tokens': `${resetTokens.toFixed(3)}s`,
    };
    return ok ? { headers } : { headers, waitSeconds: Math.max(needRequests, needTokens) * 60 };
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
    // Error bodies quote what they were sent, as real providers and proxies sometimes do: OpenAI
    // its masked key, others the whole header or the input. pgembed must show none of it.
    const given = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    const masked = `${given.slice(0, 8)}${'*'.repeat(Math.max(0, given.length - 12))}${given.slice(-4)}`;
    if (req.headers.authorization !== `Bearer ${EMULATOR_KEY}`) {
      return send(401, {
        error: {
          message: `Incorrect API key provided: ${masked}.`,
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
    const tokens = request.input.reduce((n, text) => n + countTokens(text), 0);
    const admitted = admit(tokens);
    if (admitted.waitSeconds !== undefined) {
      state.rateLimited++;
      return send(
        429,
        {
          error: {
            message: `Rate limit reached for ${request.model} on tokens per min (TPM). Please try again in ${admitted.waitSeconds.toFixed(3)}s.`,
            type: 'tokens',
            param: null,
            code: 'rate_limit_exceeded',
          },
        },
        { ...admitted.headers, 'retry-after': String(Math.max(1, Math.ceil(admitted.waitSeconds))) },
      );
    }
    if (state.delayMs) await new Promise((resolve) => setTimeout(resolve, state.delayMs));
    if (state.fault === 'hang') return; // never answers; the client's timeout must fire
    if (state.fault === 'unauthorized') {
      return send(401, {
        error: {
          message: `Incorrect API key provided: ${masked}. You can find your API key at https://platform.openai.com/account/api-keys.`,
          type: 'invalid_request_error',
          param: null,
          code: 'invalid_api_key',
        },
      });
    }
    if (state.fault === 'malformed_json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"object": "list", "data": [');
      return;
    }
    if (state.fault === 'server_error') {
      return send(500, {
        error: {
          message: `The server had an error while processing your request (authorization: ${req.headers.authorization}, input: ${JSON.stringify(request.input)}).`,
          type: 'server_error',
          param: null,
          code: null,
        },
      });
    }
    if (state.fault === 'rate_limited') {
      state.rateLimited++;
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
        { 'retry-after': state.retryAfter },
      );
    }
    const poisoned = state.poison && request.input.find((text) => text.includes(state.poison!));
    if (state.fault === 'bad_request' || poisoned) {
      return send(400, {
        error: {
          message: `This model's maximum context length is 8192 tokens. Input: ${JSON.stringify(poisoned || request.input[0])}`,
          type: 'invalid_request_error',
          param: 'input',
          code: null,
        },
      });
    }
    const dims =
      (request.dimensions ?? limits?.defaultDimensions ?? 1536) +
      (state.fault === 'wrong_dimensions' ? 1 : 0);
    const data = request.input.map((text, index) => {
      state.counts.set(text, (state.counts.get(text) ?? 0) + 1);
      const vector = hashEmbedding(text, dims, EMULATOR_MODEL);
      const embedding =
        request.encoding_format === 'base64'
          ? Buffer.from(new Float32Array(vector).buffer).toString('base64')
          : vector;
      return { object: 'embedding', index, embedding };
    });
    state.acceptedTokens += tokens;
    state.lastAnsweredAt = performance.now();
    send(
      200,
      {
        object: 'list',
        data,
        model: request.model,
        usage: { prompt_tokens: tokens, total_tokens: tokens },
      },
      admitted.headers,
    );
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
    get retryAfter() {
      return state.retryAfter;
    },
    set retryAfter(value: string) {
      state.retryAfter = value;
    },
    get rateLimited() {
      return state.rateLimited;
    },
    get acceptedTokens() {
      return state.acceptedTokens;
    },
    get lastAnsweredAt() {
      return state.lastAnsweredAt;
    },
    resetLimits() {
      if (!limits || !buckets) return;
      buckets.requests = limits.startEmpty ? 0 : limits.requestsPerMinute;
      buckets.tokens = limits.startEmpty ? 0 : limits.tokensPerMinute;
      buckets.at = performance.now();
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
