/**
 * A local server speaking OpenAI's embeddings API (POST /v1/embeddings, base64 or float vectors,
 * `usage`, error bodies), for tests that run real worker processes against it. Vectors are the
 * hash provider's vectors of each input, so a test can check every stored embedding.
 *
 * It refuses what OpenAI refuses, with OpenAI's own 400 bodies (as its API reference and the
 * answers quoted in public bug reports show them), so batching is tested against a server that
 * says no:
 * - an empty string anywhere in `input`, an empty array, or more than 2,048 inputs:
 *   "'$.input' is invalid. Please check the API reference: …";
 * - an input over 8,192 cl100k_base tokens: "This model's maximum context length is 8192 tokens,
 *   however you requested N tokens …";
 * - more than 300,000 tokens in one request, all inputs together: "Requested N tokens, max 300000
 *   tokens per request" (type and code `max_tokens_per_request`);
 * - `dimensions` sent to text-embedding-ada-002: "This model does not support specifying dimensions.";
 * - a model it does not serve: 404 `model_not_found`.
 * These checks come before rate limiting: a refused request uses none of the key's quota.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tiktokenTokenizer } from '../../src/chunking/tokenizers.js';
import { hashEmbedding } from '../../src/providers/hash.js';

export const EMULATOR_KEY = 'sk-emulator-test-key-0123456789';
export const EMULATOR_MODEL = 'hash-v1';

/** OpenAI's documented limits, all three embedding models. */
export const OPENAI_LIMITS = { maxInputs: 2048, maxInputTokens: 8192, maxRequestTokens: 300_000 } as const;

/** The models it serves: native size, and whether `dimensions` may shorten it. */
const MODELS: Readonly<Record<string, { dimensions: number; shortens: boolean }>> = {
  'text-embedding-3-small': { dimensions: 1536, shortens: true },
  'text-embedding-3-large': { dimensions: 3072, shortens: true },
  'text-embedding-ada-002': { dimensions: 1536, shortens: false },
};

const INVALID_INPUT =
  "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.";

const cl100k = tiktokenTokenizer('cl100k_base');

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
  /** Embedding size when the request has no `dimensions`. Default: the model's native size. */
  defaultDimensions?: number;
  /**
   * Start with empty buckets (a key that has been busy for a while) instead of full ones (a fresh
   * minute): then the allowed throughput over a run is exactly the per-minute rates.
   */
  startEmpty?: boolean;
}

/** One request the server answered (after the key check), in arrival order. */
export interface EmulatorRequest {
  inputs: number;
  /** cl100k_base tokens of all inputs together. */
  tokens: number;
  /** Tokens of the longest input. */
  maxInputTokens: number;
  status: number;
  /** The error message of a non-200 answer. */
  error?: string;
}

export interface OpenAIEmulator {
  baseUrl: string;
  /** Every request answered, with its size and outcome. */
  log: EmulatorRequest[];
  /** Requests refused with 400 for breaking one of OpenAI's limits. */
  readonly refused: number;
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
    log: [] as EmulatorRequest[],
    refused: 0,
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
  // OpenAI counts in cl100k_base, the tokenizer of all three of its embedding models.
  const countTokens = (text: string) => cl100k.count(text);
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
    let entry: EmulatorRequest | undefined;
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      if (entry) {
        entry.status = status;
        const message = (payload as { error?: { message?: unknown } }).error?.message;
        if (typeof message === 'string') entry.error = message;
      }
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
    let request: { input: unknown; model: unknown; dimensions?: unknown; encoding_format?: string };
    try {
      request = JSON.parse(Buffer.concat(body).toString('utf8'));
    } catch {
      return send(400, {
        error: {
          message: 'We could not parse the JSON body of your request.',
          type: 'invalid_request_error',
          param: null,
          code: null,
        },
      });
    }
    state.requests++;
    // `input` is a string or an array of strings (token arrays, which pgembed never sends, aside).
    const input = typeof request.input === 'string' ? [request.input] : request.input;
    const texts = Array.isArray(input) && input.every((text) => typeof text === 'string') ? input : [];
    const perInput = texts.map(countTokens);
    const tokens = perInput.reduce((n, count) => n + count, 0);
    entry = { inputs: texts.length, tokens, maxInputTokens: Math.max(0, ...perInput), status: 200 };
    state.log.push(entry);
    const refuse = (status: number, message: string, type: string, code: string | null) => {
      state.refused++;
      return send(status, { error: { message, type, param: null, code } });
    };
    const model = typeof request.model === 'string' ? request.model : '';
    const known = Object.hasOwn(MODELS, model) ? MODELS[model] : undefined;
    if (!known) {
      return send(404, {
        error: {
          message: `The model \`${model}\` does not exist or you do not have access to it.`,
          type: 'invalid_request_error',
          param: null,
          code: 'model_not_found',
        },
      });
    }
    if (texts.length === 0 || texts.length > OPENAI_LIMITS.maxInputs || texts.some((text) => text === '')) {
      return refuse(400, INVALID_INPUT, 'invalid_request_error', null);
    }
    if (request.dimensions !== undefined && !known.shortens) {
      return refuse(400, 'This model does not support specifying dimensions.', 'invalid_request_error', null);
    }
    const longest = Math.max(0, ...perInput);
    if (longest > OPENAI_LIMITS.maxInputTokens) {
      return refuse(
        400,
        `This model's maximum context length is ${OPENAI_LIMITS.maxInputTokens} tokens, however you requested ${longest} tokens (${longest} in your prompt; 0 for the completion). Please reduce your prompt; or completion length.`,
        'invalid_request_error',
        null,
      );
    }
    if (tokens > OPENAI_LIMITS.maxRequestTokens) {
      return refuse(
        400,
        `Requested ${tokens} tokens, max ${OPENAI_LIMITS.maxRequestTokens} tokens per request`,
        'max_tokens_per_request',
        'max_tokens_per_request',
      );
    }
    const admitted = admit(tokens);
    if (admitted.waitSeconds !== undefined) {
      state.rateLimited++;
      return send(
        429,
        {
          error: {
            message: `Rate limit reached for ${model} on tokens per min (TPM). Please try again in ${admitted.waitSeconds.toFixed(3)}s.`,
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
          message: `The server had an error while processing your request (authorization: ${req.headers.authorization}, input: ${JSON.stringify(texts)}).`,
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
    const poisoned = state.poison && texts.find((text) => text.includes(state.poison!));
    if (state.fault === 'bad_request' || poisoned) {
      return send(400, {
        error: {
          message: `This model's maximum context length is 8192 tokens. Input: ${JSON.stringify(poisoned || texts[0])}`,
          type: 'invalid_request_error',
          param: 'input',
          code: null,
        },
      });
    }
    const dims =
      (typeof request.dimensions === 'number'
        ? request.dimensions
        : (limits?.defaultDimensions ?? known.dimensions)) + (state.fault === 'wrong_dimensions' ? 1 : 0);
    const data = texts.map((text, index) => {
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
        model,
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
    get log() {
      return state.log;
    },
    get refused() {
      return state.refused;
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
