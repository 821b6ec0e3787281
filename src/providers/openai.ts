import { PgembedError, type PgembedErrorCode } from '../errors.js';
import type { EmbeddingProvider } from './types.js';

export const OPENAI_DEFAULT_BASE_URL = 'https://api.openai.com/v1';
export const OPENAI_DEFAULT_API_KEY_ENV = 'OPENAI_API_KEY';
/** 30 s: OpenAI answers a full 2048-input batch in a few seconds; longer means something is stuck. */
export const OPENAI_DEFAULT_TIMEOUT_MS = 30_000;
/** OpenAI's documented limit of inputs per request. */
export const OPENAI_MAX_BATCH_SIZE = 2048;

/** Native output sizes of OpenAI's embedding models. */
export const OPENAI_MODEL_DIMENSIONS: Readonly<Record<string, number>> = {
  'text-embedding-3-small': 1536,
  'text-embedding-3-large': 3072,
  'text-embedding-ada-002': 1536,
};

/** Native output size of an OpenAI model, `undefined` for models we do not know. */
export function openaiModelDimensions(model: string): number | undefined {
  return Object.hasOwn(OPENAI_MODEL_DIMENSIONS, model) ? OPENAI_MODEL_DIMENSIONS[model] : undefined;
}

export interface OpenAIProviderOptions {
  model: string;
  /**
   * Expected vector length. Sent as `dimensions` (shortened output) only to text-embedding-3 models;
   * for other models it is only checked against what the server returns.
   */
  dimensions?: number | undefined;
  /** Default `https://api.openai.com/v1`; any OpenAI-compatible server works. */
  baseUrl?: string | undefined;
  /** Name of the environment variable holding the key. Default `OPENAI_API_KEY`. */
  apiKeyEnv?: string | undefined;
  /** Per request, including reading the response body. Default 30 000. */
  timeoutMs?: number | undefined;
}

/** Seams for tests; production uses the defaults. */
export interface OpenAIProviderDeps {
  /** Where the key is read from. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Default the global `fetch`. */
  fetch?: typeof fetch;
  /** Clock in epoch milliseconds, for `Retry-After` HTTP dates. Default `Date.now`. */
  now?: () => number;
}

/**
 * `openai` provider: `POST {baseUrl}/embeddings` with base64 float32 output, for OpenAI itself and for
 * OpenAI-compatible servers (vLLM, LiteLLM, LM Studio, …). Fails fast at creation when the key's
 * environment variable is unset. Errors are {@link PgembedError}s classified for the retry loop:
 *
 * | HTTP / failure                 | code                      | kind          |
 * | ------------------------------ | ------------------------- | ------------- |
 * | 401, 403, 429 insufficient_quota | PROVIDER_AUTH           | configuration |
 * | 404, other 4xx                 | PROVIDER_CONFIG           | configuration |
 * | 400, 413, 422                  | PROVIDER_INPUT_REJECTED   | permanent     |
 * | 429                            | PROVIDER_RATE_LIMITED (+ retryAfterSeconds) | retriable |
 * | 408, our timeout               | PROVIDER_TIMEOUT          | retriable     |
 * | 5xx, network error             | PROVIDER_UNAVAILABLE      | retriable     |
 * | bad JSON, shape, count         | PROVIDER_BAD_RESPONSE     | retriable     |
 * | vector length ≠ dimensions     | DIMENSION_MISMATCH        | permanent     |
 *
 * Messages never contain the key or the inputs. Aborting `options.signal` rejects with its reason.
 *
 * @example
 * ```ts
 * const provider = createOpenAIProvider({ model: 'text-embedding-3-small', dimensions: 512 });
 * const [vector] = await provider.embed(['hello world'], { inputType: 'document' });
 * vector.length; // 512
 * ```
 */
export function createOpenAIProvider(
  options: OpenAIProviderOptions,
  deps: OpenAIProviderDeps = {},
): EmbeddingProvider {
  const { model } = options;
  const env = deps.env ?? process.env;
  const fetchFn = deps.fetch ?? fetch;
  const now = deps.now ?? Date.now;
  const apiKeyEnv = options.apiKeyEnv ?? OPENAI_DEFAULT_API_KEY_ENV;
  const timeoutMs = options.timeoutMs ?? OPENAI_DEFAULT_TIMEOUT_MS;
  const baseUrl = (options.baseUrl ?? OPENAI_DEFAULT_BASE_URL).replace(/\/+$/, '');
  const url = `${baseUrl}/embeddings`;
  const where = describeEndpoint(baseUrl);

  const native = openaiModelDimensions(model);
  const acceptsDimensions = model.startsWith('text-embedding-3');
  if (options.dimensions !== undefined && native !== undefined) {
    if (acceptsDimensions && options.dimensions > native) {
      throw new PgembedError('CONFIG_INVALID', `dimensions for ${model} must be at most ${native}`, {
        kind: 'configuration',
      });
    }
    if (!acceptsDimensions && options.dimensions !== native) {
      throw new PgembedError(
        'CONFIG_INVALID',
        `${model} always returns ${native} dimensions; remove dimensions or set it to ${native}`,
        { kind: 'configuration' },
      );
    }
  }
  const sendDimensions = acceptsDimensions && options.dimensions !== undefined;
  // Unknown models on compatible servers: learnt from the first response, then enforced.
  let dimensions = options.dimensions ?? native;

  const apiKey = env[apiKeyEnv]?.trim();
  if (!apiKey) {
    throw new PgembedError(
      'PROVIDER_CONFIG',
      `Environment variable ${apiKeyEnv} is not set; put the API key in it (pipelines store only the variable's name)`,
      { kind: 'configuration' },
    );
  }
  // undici quotes an invalid header value — the whole key — in its TypeError; refuse it here instead.
  if (!/^[\x21-\x7e]+$/.test(apiKey)) {
    throw new PgembedError(
      'PROVIDER_CONFIG',
      `Environment variable ${apiKeyEnv} contains characters that cannot be sent in an HTTP header (spaces, quotes or non-ASCII)`,
      { kind: 'configuration' },
    );
  }

  return {
    name: 'openai',
    model,
    get dimensions() {
      return dimensions;
    },
    maxBatchSize: OPENAI_MAX_BATCH_SIZE,
    // cl100k_base tokens, all three OpenAI embedding models.
    maxInputTokens: 8192,
    // OpenAI's models have no query/document distinction, so `inputType` is not sent.
    async embed(texts, embedOptions) {
      embedOptions.signal?.throwIfAborted();
      if (texts.length === 0) return [];
      if (texts.length > OPENAI_MAX_BATCH_SIZE) {
        throw new PgembedError(
          'INVALID_ARGUMENT',
          `openai provider accepts at most ${OPENAI_MAX_BATCH_SIZE} texts per call, got ${texts.length}`,
        );
      }
      const scrub = (text: string): string => scrubSecrets(text, apiKey, texts);
      const body: Record<string, unknown> = { model, input: texts, encoding_format: 'base64' };
      if (sendDimensions) body.dimensions = options.dimensions;

      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = embedOptions.signal ? AbortSignal.any([embedOptions.signal, timeout]) : timeout;
      let response: Response;
      let text: string;
      try {
        response = await fetchFn(url, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${apiKey}`,
            'content-type': 'application/json',
            accept: 'application/json',
          },
          body: JSON.stringify(body),
          signal,
        });
        text = await response.text();
      } catch (error) {
        if (embedOptions.signal?.aborted) throw embedOptions.signal.reason;
        if (timeout.aborted) {
          throw new PgembedError(
            'PROVIDER_TIMEOUT',
            `${where} did not answer within ${timeoutMs} ms; will retry (raise timeoutMs if batches are large)`,
            { kind: 'retriable' },
          );
        }
        const reason = networkErrorCode(error);
        throw new PgembedError(
          'PROVIDER_UNAVAILABLE',
          `Could not reach ${where}${reason ? ` (${scrub(reason)})` : ''}; will retry`,
          { kind: 'retriable', cause: safeCause(error, scrub) },
        );
      }

      if (!response.ok) {
        const { message, code } = serverError(text);
        throw httpError(response.status, response.headers, scrub(message), code, {
          where,
          model,
          apiKeyEnv,
          now: now(),
        });
      }

      const vectors = parseEmbeddings(text, texts.length, where);
      const first = vectors[0]!;
      const expected = dimensions ?? first.length;
      for (const vector of vectors) {
        if (vector.length === expected) continue;
        if (dimensions === undefined) {
          throw badResponse(
            `${where} returned vectors of different lengths (${first.length} and ${vector.length})`,
          );
        }
        throw new PgembedError(
          'DIMENSION_MISMATCH',
          `${model} at ${where} returned ${vector.length}-dimensional vectors but ${dimensions} are expected; ` +
            'fix the pipeline dimensions or the model',
          { kind: 'permanent' },
        );
      }
      dimensions = expected;
      return vectors;
    },
  };
}

/**
 * Decodes OpenAI's `encoding_format: 'base64'` embedding: the vector's float32 values, little-endian,
 * base64-encoded. `undefined` when the string is not base64 or not a whole number of floats.
 */
export function decodeBase64Float32(encoded: string): number[] | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(encoded)) return undefined;
  const bytes = Buffer.from(encoded, 'base64');
  if (bytes.length % 4 !== 0) return undefined;
  const out = new Array<number>(bytes.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4);
  return out;
}

/**
 * Seconds to wait, from `retry-after-ms` (Azure, OpenAI), `Retry-After` (delta seconds or an HTTP
 * date), or failing those OpenAI's `x-ratelimit-reset-{requests,tokens}` durations such as "6m0s".
 */
export function parseRetryAfter(headers: Headers, nowMs: number): number | undefined {
  const ms = headers.get('retry-after-ms');
  if (ms !== null && /^\s*\d+(\.\d+)?\s*$/.test(ms)) return Number(ms) / 1000;
  const value = headers.get('retry-after')?.trim();
  if (value) {
    if (/^\d+(\.\d+)?$/.test(value)) return Number(value);
    const date = Date.parse(value);
    if (!Number.isNaN(date)) return Math.max(0, (date - nowMs) / 1000);
  }
  const resets = ['requests', 'tokens']
    .filter((kind) => headers.get(`x-ratelimit-remaining-${kind}`)?.trim() === '0')
    .map((kind) => parseDuration(headers.get(`x-ratelimit-reset-${kind}`)))
    .filter((seconds): seconds is number => seconds !== undefined);
  return resets.length > 0 ? Math.max(...resets) : undefined;
}

/** "1h2m3.5s", "6m0s", "20ms" → seconds. */
function parseDuration(value: string | null): number | undefined {
  if (!value) return undefined;
  const match =
    /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$/.exec(
      value.trim(),
    );
  if (!match || match[0] === '') return undefined;
  const [, h = '0', m = '0', s = '0', msPart = '0'] = match;
  return Number(h) * 3600 + Number(m) * 60 + Number(s) + Number(msPart) / 1000;
}

interface HttpContext {
  where: string;
  model: string;
  apiKeyEnv: string;
  now: number;
}

function httpError(
  status: number,
  headers: Headers,
  detail: string,
  errorCode: string,
  ctx: HttpContext,
): PgembedError {
  const said = `HTTP ${status}${detail ? `: ${detail}` : ''}`;
  const make = (
    code: PgembedErrorCode,
    kind: 'retriable' | 'permanent' | 'configuration',
    message: string,
  ) => {
    const retryAfterSeconds = parseRetryAfter(headers, ctx.now);
    return new PgembedError(
      code,
      message,
      retryAfterSeconds === undefined ? { kind } : { kind, retryAfterSeconds },
    );
  };
  if (status === 401 || status === 403) {
    return make(
      'PROVIDER_AUTH',
      'configuration',
      `${ctx.where} rejected the API key in ${ctx.apiKeyEnv} (${said}); check the key and its access to ${ctx.model}`,
    );
  }
  if (status === 429) {
    // OpenAI also answers 429 when the account is out of credit; waiting does not fix that.
    if (errorCode === 'insufficient_quota') {
      return make(
        'PROVIDER_AUTH',
        'configuration',
        `${ctx.where} says the account is out of quota (${said}); check billing`,
      );
    }
    return make(
      'PROVIDER_RATE_LIMITED',
      'retriable',
      `${ctx.where} rate-limited ${ctx.model} (${said}); will retry`,
    );
  }
  if (status === 404) {
    return make(
      'PROVIDER_CONFIG',
      'configuration',
      `${ctx.where} does not know model "${ctx.model}" or has no /embeddings endpoint (${said}); check model and baseUrl`,
    );
  }
  if (status === 408) {
    return make('PROVIDER_TIMEOUT', 'retriable', `${ctx.where} timed out the request (${said}); will retry`);
  }
  if (status === 400 || status === 413 || status === 422) {
    return make(
      'PROVIDER_INPUT_REJECTED',
      'permanent',
      `${ctx.where} rejected the batch for ${ctx.model} (${said})`,
    );
  }
  if (status >= 500) {
    return make('PROVIDER_UNAVAILABLE', 'retriable', `${ctx.where} failed (${said}); will retry`);
  }
  if (status >= 400) {
    return make(
      'PROVIDER_CONFIG',
      'configuration',
      `${ctx.where} refused the request (${said}); check baseUrl`,
    );
  }
  return make('PROVIDER_BAD_RESPONSE', 'retriable', `${ctx.where} answered with unexpected ${said}`);
}

function badResponse(message: string): PgembedError {
  return new PgembedError('PROVIDER_BAD_RESPONSE', `${message}; will retry`, { kind: 'retriable' });
}

/** The response body as vectors in input order, or PROVIDER_BAD_RESPONSE. */
function parseEmbeddings(text: string, count: number, where: string): number[][] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw badResponse(`${where} returned a body that is not JSON`);
  }
  const data = isRecord(parsed) ? parsed.data : undefined;
  if (!Array.isArray(data)) throw badResponse(`${where} returned JSON without a "data" array`);
  if (data.length !== count)
    throw badResponse(`${where} returned ${data.length} embeddings for ${count} inputs`);
  // Some compatible servers omit `index`; then (and only then) array order is the input order.
  const indexed = data.some((item) => isRecord(item) && item.index !== undefined);
  const out = new Array<number[] | undefined>(count);
  for (const [position, item] of data.entries()) {
    if (!isRecord(item)) throw badResponse(`${where} returned a data item that is not an object`);
    const index = indexed ? item.index : position;
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= count || out[index]) {
      throw badResponse(`${where} returned missing, duplicate or out-of-range embedding indexes`);
    }
    // Asked for base64, but some compatible servers ignore encoding_format and send float arrays.
    const raw = item.embedding;
    const vector =
      typeof raw === 'string'
        ? decodeBase64Float32(raw)
        : Array.isArray(raw) && raw.every((value) => typeof value === 'number')
          ? (raw as number[])
          : undefined;
    if (vector === undefined || vector.length === 0 || !vector.every(Number.isFinite)) {
      throw badResponse(
        `${where} returned an embedding that is not a non-empty list of finite float32 values`,
      );
    }
    out[index] = vector;
  }
  return out as number[][];
}

interface ServerError {
  /** OpenAI's `error.message` (or a compatible server's equivalent), one line, at most 300 characters. */
  message: string;
  /** OpenAI's `error.code` or `error.type`, e.g. 'insufficient_quota'. */
  code: string;
}

/** The useful parts of an error body; never the raw body, which may be an HTML page or echo inputs. */
function serverError(body: string): ServerError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { message: '', code: '' };
  }
  if (!isRecord(parsed)) return { message: '', code: '' };
  const error = parsed.error;
  const message = isRecord(error)
    ? error.message
    : typeof error === 'string'
      ? error
      : (parsed.message ?? parsed.detail);
  const code = isRecord(error) ? (error.code ?? error.type) : undefined;
  const oneLine = typeof message === 'string' ? message.replace(/\s+/g, ' ').trim() : '';
  return {
    message: oneLine.length > 300 ? `${oneLine.slice(0, 300)}…` : oneLine,
    code: typeof code === 'string' ? code : '',
  };
}

/**
 * Removes the key, anything shaped like an OpenAI key (their 401 message quotes a masked key) and any
 * input that a server echoed back.
 */
function scrubSecrets(text: string, apiKey: string, inputs: readonly string[]): string {
  let out = text.split(apiKey).join('[redacted key]');
  out = out.replace(/\b(?:sk|rk)-[A-Za-z0-9_*.-]{4,}/g, '[redacted key]');
  for (const input of inputs) {
    // Below 4 characters an input is as likely to be an ordinary word of the message as an echo.
    if (input.trim().length >= 4 && out.includes(input)) out = out.split(input).join('[input]');
  }
  return out;
}

function safeCause(error: unknown, scrub: (text: string) => string): unknown {
  const described = error instanceof Error ? `${error.message} ${String(error.cause ?? '')}` : String(error);
  return scrub(described) === described ? error : new Error(scrub(described));
}

/** "ECONNREFUSED", "ECONNRESET", "UND_ERR_SOCKET", … from undici's `TypeError: fetch failed`. */
function networkErrorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = current.cause;
  }
  return error instanceof Error ? error.message : undefined;
}

/** "OpenAI" or "the embeddings server at http://host:port/path", without credentials or query. */
function describeEndpoint(baseUrl: string): string {
  if (baseUrl === OPENAI_DEFAULT_BASE_URL) return 'OpenAI';
  try {
    const parsed = new URL(baseUrl);
    return `the embeddings server at ${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`;
  } catch {
    return 'the embeddings server';
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
