/**
 * What every HTTP embedding provider shares: one request with timeout and pacing, short 429s waited
 * out in-process, and every failure turned into a classified {@link PgembedError}:
 *
 * | HTTP / failure                   | code                      | kind          |
 * | -------------------------------- | ------------------------- | ------------- |
 * | 401, 403, quota exhausted        | PROVIDER_AUTH             | configuration |
 * | 404 (unknown model/deployment)   | PROVIDER_CONFIG           | configuration |
 * | other 4xx                        | PROVIDER_CONFIG           | configuration |
 * | 400, 413, 422                    | PROVIDER_INPUT_REJECTED   | permanent     |
 * | 429                              | PROVIDER_RATE_LIMITED (+ retryAfterSeconds) | retriable |
 * | 408, our timeout                 | PROVIDER_TIMEOUT          | retriable     |
 * | 5xx, network error               | PROVIDER_UNAVAILABLE      | retriable     |
 * | bad JSON, shape, count           | PROVIDER_BAD_RESPONSE     | retriable     |
 * | vector length ≠ dimensions       | DIMENSION_MISMATCH        | permanent     |
 *
 * Messages never contain the key, any 6-character run of it, or the inputs: every text that came
 * from the provider passes through one scrub ({@link secretScrubber}) before it is cut or quoted,
 * and every error leaving a provider is scrubbed once more, whole. Messages say what happened, not
 * what happens next: whether to retry is the worker's decision, and the worker says it.
 */
import { type ErrorKind, PgembedError, type PgembedErrorCode } from '../errors.js';
import { LimiterRegistry, parseDuration, type RateLimiter, type RateLimits } from './limiter.js';
import type { TokenCounter } from './tokens.js';
import type { EmbeddingProvider, EmbedOptions } from './types.js';

/** 30 s: providers answer a full batch in a few seconds; longer means something is stuck. */
export const DEFAULT_TIMEOUT_MS = 30_000;
/**
 * A 429 asking us to wait at most this long is waited out inside the call (the limiter pauses every
 * request on the key meanwhile); a longer one fails the call so the worker reschedules the jobs
 * (`run_at`) instead of holding a connection and a lease.
 */
export const MAX_INLINE_RETRY_AFTER_SECONDS = 5;
/** Inline 429 retries per call before giving the jobs back to the queue. */
const MAX_INLINE_RETRIES = 3;

export interface HttpDeps {
  /** Default the global `fetch`. */
  fetch?: typeof fetch;
  /** Clock in epoch milliseconds, for `Retry-After` HTTP dates. Default `Date.now`. */
  now?: () => number;
}

/** Seams of an HTTP provider for tests; production uses the defaults. */
export interface HttpProviderDeps extends HttpDeps {
  /** Where the key is read from. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * Limiters shared by all providers a worker creates, one per (provider, model, endpoint, key).
   * Default: a registry of this provider's own.
   */
  limiters?: LimiterRegistry;
}

export interface ErrorContext {
  /** "OpenAI", "Voyage AI", "the Ollama server at http://…": who we talked to. */
  where: string;
  model: string;
  /** Variable holding the key, named in auth errors; undefined for keyless servers. */
  apiKeyEnv: string | undefined;
  /** What a 404 means for this provider, with the fix. */
  notFound: string;
  /** Provider error codes meaning "out of credit": waiting will not help. */
  quotaCodes?: readonly string[];
  /** Provider-specific overrides, tried first. */
  classify?: (
    status: number,
    error: ServerError,
  ) => { code: PgembedErrorCode; kind: ErrorKind; message: string } | undefined;
}

export interface PostJsonArgs {
  url: string;
  headers: Record<string, string>;
  body: unknown;
  /** Input tokens of this request, for the limiter. */
  tokens: number;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  limiter: RateLimiter;
  ctx: ErrorContext;
  /** Removes secrets and echoed inputs from any text that reaches a message. */
  scrub: (text: string) => string;
  deps: HttpDeps;
}

/**
 * POSTs `body` as JSON and returns the response text of a 2xx answer; throws a classified
 * PgembedError otherwise. Aborting `signal` rejects with its reason. The timeout covers one attempt
 * (request and body), not the time spent waiting for the limiter.
 */
export async function postJson(args: PostJsonArgs): Promise<string> {
  const fetchFn = args.deps.fetch ?? fetch;
  const now = args.deps.now ?? Date.now;
  const { ctx, scrub } = args;
  const payload = JSON.stringify(args.body);
  for (let attempt = 0; ; attempt++) {
    const permit = await args.limiter.acquire(args.tokens, args.signal);
    const timeout = AbortSignal.timeout(args.timeoutMs);
    const signal = args.signal ? AbortSignal.any([args.signal, timeout]) : timeout;
    let response: Response;
    let text: string;
    try {
      response = await fetchFn(args.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', ...args.headers },
        body: payload,
        signal,
      });
      text = await response.text();
    } catch (error) {
      args.limiter.release(permit, {});
      if (args.signal?.aborted) throw args.signal.reason;
      if (timeout.aborted) {
        throw new PgembedError(
          'PROVIDER_TIMEOUT',
          `${ctx.where} did not answer within ${args.timeoutMs} ms (raise timeoutMs if batches are large)`,
          { kind: 'retriable' },
        );
      }
      const reason = networkErrorCode(error);
      throw new PgembedError(
        'PROVIDER_UNAVAILABLE',
        `Could not reach ${ctx.where}${reason ? ` (${clip(scrub(reason))})` : ''}`,
        { kind: 'retriable', cause: safeCause(error, scrub) },
      );
    }
    const retryAfterSeconds = response.status === 429 ? parseRetryAfter(response.headers, now()) : undefined;
    args.limiter.release(permit, { status: response.status, headers: response.headers, retryAfterSeconds });
    if (response.ok) return text;
    // Scrubbed whole, then cut: a key cut in two first would no longer be found.
    const raw = serverError(text);
    const detail = { message: clip(scrub(raw.message)), code: scrub(raw.code) };
    const error = httpError(response.status, response.headers, detail.message, detail, ctx, now());
    if (
      error.code === 'PROVIDER_RATE_LIMITED' &&
      attempt < MAX_INLINE_RETRIES &&
      (error.retryAfterSeconds ?? 1) <= MAX_INLINE_RETRY_AFTER_SECONDS
    ) {
      // The limiter now holds every request on this key until the Retry-After has passed.
      continue;
    }
    throw error;
  }
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

export function httpError(
  status: number,
  headers: Headers,
  detail: string,
  error: ServerError,
  ctx: ErrorContext,
  nowMs: number,
): PgembedError {
  const said = `HTTP ${status}${detail ? `: ${detail}` : ''}`;
  const make = (code: PgembedErrorCode, kind: ErrorKind, message: string) => {
    const retryAfterSeconds = parseRetryAfter(headers, nowMs);
    return new PgembedError(
      code,
      message,
      retryAfterSeconds === undefined ? { kind } : { kind, retryAfterSeconds },
    );
  };
  const special = ctx.classify?.(status, { ...error, message: detail });
  if (special) return make(special.code, special.kind, special.message);
  const key = ctx.apiKeyEnv ? `the API key in ${ctx.apiKeyEnv}` : 'the request (no API key configured)';
  if (status === 401 || status === 403) {
    return make(
      'PROVIDER_AUTH',
      'configuration',
      `${ctx.where} rejected ${key} (${said}); check the key and its access to ${ctx.model}`,
    );
  }
  if (status === 429) {
    if (ctx.quotaCodes?.includes(error.code)) {
      return make(
        'PROVIDER_AUTH',
        'configuration',
        `${ctx.where} says the account is out of quota (${said}); check billing`,
      );
    }
    return make('PROVIDER_RATE_LIMITED', 'retriable', `${ctx.where} rate-limited ${ctx.model} (${said})`);
  }
  if (status === 404) return make('PROVIDER_CONFIG', 'configuration', `${ctx.notFound} (${said})`);
  if (status === 408) {
    return make('PROVIDER_TIMEOUT', 'retriable', `${ctx.where} timed out the request (${said})`);
  }
  if (status === 400 || status === 413 || status === 422) {
    return make(
      'PROVIDER_INPUT_REJECTED',
      'permanent',
      `${ctx.where} rejected the batch for ${ctx.model} (${said})`,
    );
  }
  if (status >= 500) return make('PROVIDER_UNAVAILABLE', 'retriable', `${ctx.where} failed (${said})`);
  if (status >= 400) {
    return make(
      'PROVIDER_CONFIG',
      'configuration',
      `${ctx.where} refused the request (${said}); check baseUrl`,
    );
  }
  return make('PROVIDER_BAD_RESPONSE', 'retriable', `${ctx.where} answered with unexpected ${said}`);
}

export function badResponse(message: string): PgembedError {
  return new PgembedError('PROVIDER_BAD_RESPONSE', message, { kind: 'retriable' });
}

export function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw badResponse(`${where} returned a body that is not JSON`);
  }
}

/** A vector given as float32 base64 or as a JSON number array; undefined when neither. */
export function toVector(raw: unknown): number[] | undefined {
  const vector =
    typeof raw === 'string'
      ? decodeBase64Float32(raw)
      : Array.isArray(raw) && raw.every((value) => typeof value === 'number')
        ? (raw as number[])
        : undefined;
  if (vector === undefined || vector.length === 0 || !vector.every(Number.isFinite)) return undefined;
  return vector;
}

/**
 * Decodes a base64 float32 embedding (OpenAI's and Voyage's `encoding_format: 'base64'`): the
 * vector's float32 values, little-endian. `undefined` when not base64 or not whole floats.
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
 * Checks that all vectors have the expected length (or, when none is known yet, the same length) and
 * returns that length. A mismatch with a known dimension is DIMENSION_MISMATCH (permanent).
 */
export function checkDimensions(
  vectors: number[][],
  expected: number | undefined,
  model: string,
  where: string,
): number {
  const first = vectors[0]!.length;
  const want = expected ?? first;
  for (const vector of vectors) {
    if (vector.length === want) continue;
    if (expected === undefined) {
      throw badResponse(`${where} returned vectors of different lengths (${first} and ${vector.length})`);
    }
    throw new PgembedError(
      'DIMENSION_MISMATCH',
      `${model} at ${where} returned ${vector.length}-dimensional vectors but ${expected} are expected; ` +
        'fix the pipeline dimensions or the model',
      { kind: 'permanent' },
    );
  }
  return want;
}

export interface ServerError {
  /**
   * The provider's error message on one line, neither scrubbed nor cut yet: pass it through the
   * scrub, then {@link clip}.
   */
  message: string;
  /** The provider's error code or type, e.g. 'insufficient_quota'. */
  code: string;
}

/** Characters of a provider's error message that reach our message. */
export const MAX_DETAIL_CHARS = 300;
/**
 * Characters of a provider's error message looked at, at most: bounds the scrub's work on a huge
 * body. Cut at a space, and keys hold none (readApiKey refuses them), so this cut splits no key.
 */
const MAX_SCANNED_CHARS = 16_384;

/** The useful parts of an error body; never the raw body, which may be an HTML page or echo inputs. */
export function serverError(body: string): ServerError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { message: '', code: '' };
  }
  if (!isRecord(parsed)) return { message: '', code: '' };
  const error = parsed.error;
  // OpenAI/Azure/LiteLLM: {error: {message, code, type}}; Ollama: {error: "…"}; Cohere and vLLM:
  // {message}; Voyage: {detail}.
  const message = isRecord(error)
    ? error.message
    : typeof error === 'string'
      ? error
      : (parsed.message ?? parsed.detail);
  const code = isRecord(error) ? (error.code ?? error.type) : undefined;
  let oneLine = typeof message === 'string' ? message.replace(/\s+/g, ' ').trim() : '';
  if (oneLine.length > MAX_SCANNED_CHARS) {
    oneLine = `${oneLine.slice(0, Math.max(0, oneLine.lastIndexOf(' ', MAX_SCANNED_CHARS)))} …`;
  }
  return { message: oneLine, code: typeof code === 'string' ? code : '' };
}

/** `text` cut to `max` characters (with "…"): only ever applied to text already scrubbed. */
export function clip(text: string, max = MAX_DETAIL_CHARS): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/**
 * A run this long of a key, anywhere, is a leak: it is redacted wherever it appears, whole key or
 * not (a key cut by a provider's own truncation, split over lines, quoted as "sk-abc…" hints).
 * Shorter runs are left: 5 characters of a key identify nothing, and are as likely to be ordinary
 * text of the message.
 */
export const KEY_FRAGMENT_CHARS = 6;
const REDACTED = '[redacted key]';

/**
 * Credentials we may not know but can recognise, redacted wherever they appear: OpenAI, LiteLLM and
 * Voyage keys (`sk-`, `rk-`, `pa-`, also masked as `sk-abc*****wxyz`), bearer tokens, JWTs, masked
 * hints (`abcd...wxyz`), and long opaque tokens (Azure's 32 hex characters, Cohere's 40
 * alphanumerics). OpenAI's request ids (`req_…`) are kept: they are what its support asks for.
 * Every pattern can only start where its token starts (a literal prefix or a look-behind), so a
 * 16 KiB run of letters costs one pass, not one per character.
 */
const CREDENTIAL_PATTERNS: readonly [RegExp, string][] = [
  [/\b(bearer)\s+[^\s"',;)\]}]{4,}/gi, `$1 ${REDACTED}`],
  [/\b(?:sk|rk|pa)-[A-Za-z0-9_*.-]{4,}/g, REDACTED],
  [/\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*)?/g, REDACTED],
  [/(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{2,}(?:\*{3,}|\.{3}|…)[A-Za-z0-9_-]{2,}/g, REDACTED],
  [
    /(?<![A-Za-z0-9]|req_)(?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{32,}(?![A-Za-z0-9])/g,
    REDACTED,
  ],
];

/** `text` with ASCII letters lower-cased: same length, so indexes still match `text`. */
function asciiLower(text: string): string {
  return text.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/**
 * Returns the one scrub for text that may quote the given secrets: each is redacted whole and so is
 * every run of {@link KEY_FRAGMENT_CHARS} or more of its characters (ASCII case ignored), in the form
 * sent and as it reads URL-encoded or inside a JSON string; so are credentials of any provider
 * ({@link CREDENTIAL_PATTERNS}) and the `inputs` a server echoed. Keys are printable ASCII without
 * spaces (readApiKey), which is what makes the last pass final.
 */
export function secretScrubber(
  secrets: readonly (string | undefined)[],
): (text: string, inputs?: readonly string[]) => string {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (!secret) continue;
    forms.add(secret);
    forms.add(encodeURIComponent(secret));
    forms.add(JSON.stringify(secret).slice(1, -1));
  }
  const short = [...forms].filter((form) => form.length < KEY_FRAGMENT_CHARS);
  const grams = new Set<string>();
  for (const form of forms) {
    const lower = asciiLower(form);
    for (let i = 0; i + KEY_FRAGMENT_CHARS <= lower.length; i++) {
      grams.add(lower.slice(i, i + KEY_FRAGMENT_CHARS));
    }
  }
  return (text, inputs = []) => {
    let out = text;
    for (const form of short) out = out.split(form).join(REDACTED);
    // Patterns first: a masked hint "sk-abc*****wxyz" goes whole, not as "[redacted key]*****wxyz".
    for (const [pattern, replacement] of CREDENTIAL_PATTERNS) out = out.replace(pattern, replacement);
    // One marker for a key that a pattern and its runs took in two bites ("vk-live-" + the rest).
    out = redactRuns(out, grams, REDACTED).replace(/(?:\[redacted key\])+/g, REDACTED);
    for (const input of inputs) {
      // Below 4 characters an input is as likely to be an ordinary word of the message as an echo.
      if (input.trim().length >= 4 && out.includes(input)) out = out.split(input).join('[input]');
    }
    // Replacing text joins what was around it: a run of the key may now straddle a seam. "…" is not
    // ASCII, so no run can contain it and this second pass leaves nothing to find.
    return redactRuns(out, grams, '…');
  };
}

/** `text` with every stretch covered by a run in `grams` replaced by `marker` (one per stretch). */
function redactRuns(text: string, grams: ReadonlySet<string>, marker: string): string {
  if (grams.size === 0 || text.length < KEY_FRAGMENT_CHARS) return text;
  const lower = asciiLower(text);
  let out = '';
  let copied = 0;
  let end = -1;
  for (let i = 0; i + KEY_FRAGMENT_CHARS <= lower.length; i++) {
    if (!grams.has(lower.slice(i, i + KEY_FRAGMENT_CHARS))) continue;
    if (i > end) {
      if (end >= 0) out += marker;
      out += text.slice(copied, i);
    }
    end = i + KEY_FRAGMENT_CHARS;
    copied = end;
  }
  if (end < 0) return text;
  return `${out}${marker}${text.slice(copied)}`;
}

/**
 * Removes the key (and any run of 6 or more of its characters), anything shaped like a credential
 * (their 401 messages quote a masked key) and any input that a server echoed back.
 */
export function scrubSecrets(text: string, apiKey: string | undefined, inputs: readonly string[]): string {
  return secretScrubber([apiKey])(text, inputs);
}

/**
 * What a network failure says, scrubbed, as a plain Error: never the original, whose fields
 * (undici keeps the request's headers on some of its errors) and causes we do not control.
 */
function safeCause(error: unknown, scrub: (text: string) => string): Error {
  const said: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current !== undefined; depth++) {
    if (!(current instanceof Error)) {
      said.push(String(current));
      break;
    }
    const code = (current as { code?: unknown }).code;
    said.push(typeof code === 'string' ? `${current.message} (${code})` : current.message);
    current = current.cause;
  }
  return new Error(clip(scrub(said.join(': ')), 2000));
}

/**
 * `error` with every text it exposes (message, enumerable fields, cause) scrubbed: the last gate of
 * a provider, so that no path turning provider text into an error can miss the scrub. An error that
 * shows nothing to scrub leaves as it came (an abort reason stays the caller's own object).
 */
export function scrubError(error: unknown, scrub: (text: string) => string): unknown {
  if (!(error instanceof Error)) return error;
  const message = scrub(error.message);
  if (message === error.message && isClean(error, scrub) && isClean(error.cause, scrub)) return error;
  const cause = error.cause === undefined ? undefined : safeCause(error.cause, scrub);
  if (error instanceof PgembedError) {
    return new PgembedError(error.code, message, {
      kind: error.kind,
      ...(cause === undefined ? {} : { cause }),
      ...(error.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: error.retryAfterSeconds }),
    });
  }
  return new Error(message, cause === undefined ? undefined : { cause });
}

/** Whether `value`'s message, enumerable fields and causes all survive the scrub unchanged. */
function isClean(value: unknown, scrub: (text: string) => string, depth = 0): boolean {
  if (value === undefined) return true;
  if (depth > 3) return false;
  let shown: string;
  try {
    shown = JSON.stringify({ ...(value as object), message: (value as Error)?.message ?? String(value) });
  } catch {
    return false;
  }
  return scrub(shown) === shown && isClean((value as { cause?: unknown })?.cause, scrub, depth + 1);
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

/** Reads the key from `env[name]`; PROVIDER_CONFIG when unset or unsendable (never quoting it). */
export function readApiKey(env: Readonly<Record<string, string | undefined>>, name: string): string {
  const apiKey = env[name]?.trim();
  if (!apiKey) {
    throw new PgembedError(
      'PROVIDER_CONFIG',
      `Environment variable ${name} is not set; put the API key in it (pipelines store only the variable's name)`,
      { kind: 'configuration' },
    );
  }
  // undici quotes an invalid header value — the whole key — in its TypeError; refuse it here instead.
  if (!/^[\x21-\x7e]+$/.test(apiKey)) {
    throw new PgembedError(
      'PROVIDER_CONFIG',
      `Environment variable ${name} contains characters that cannot be sent in an HTTP header (spaces, quotes or non-ASCII)`,
      { kind: 'configuration' },
    );
  }
  return apiKey;
}

/** "the embeddings server at http://host:port/path", without credentials or query. */
export function describeUrl(label: string, url: string): string {
  try {
    const parsed = new URL(url);
    return `${label} at ${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`;
  } catch {
    return label;
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function tooManyInputs(provider: string, max: number, got: number): PgembedError {
  return new PgembedError(
    'INVALID_ARGUMENT',
    `${provider} provider accepts at most ${max} texts per call, got ${got}`,
  );
}

/**
 * Checks `dimensions` asked of a model whose sizes are known: its native size, or one of the sizes it
 * can shorten to (`flexible`). Returns whether the request must name the size.
 */
export function checkRequestedDimensions(
  model: string,
  info: { dimensions: number; flexible: readonly number[] } | undefined,
  dimensions: number | undefined,
): boolean {
  if (
    info &&
    dimensions !== undefined &&
    dimensions !== info.dimensions &&
    !info.flexible.includes(dimensions)
  ) {
    throw new PgembedError(
      'CONFIG_INVALID',
      info.flexible.length
        ? `dimensions for ${model} must be one of ${info.flexible.join(', ')}`
        : `${model} always returns ${info.dimensions} dimensions; remove dimensions or set it to ${info.dimensions}`,
      { kind: 'configuration' },
    );
  }
  return dimensions !== undefined && (info?.flexible.length ?? 0) > 0;
}

/** What sets one HTTP embedding provider apart; {@link httpEmbeddingProvider} does the rest. */
export interface HttpProviderSpec {
  name: string;
  model: string;
  /** Known or requested; otherwise learnt from the first response, then enforced. */
  dimensions: number | undefined;
  maxBatchSize: number;
  maxInputTokens: number;
  maxBatchTokens?: number | undefined;
  counter: TokenCounter;
  /** The server requests go to: with name, model and key, what one rate limiter paces. */
  endpoint: string;
  limits: RateLimits;
  timeoutMs: number;
  /** Scrubbed from every message. */
  apiKey: string | undefined;
  /** Who answers, for messages (as in {@link ErrorContext}). */
  where: string;
  deps: HttpProviderDeps;
  /** The request for one batch: where it goes, its headers and body, and what its errors mean. */
  request(
    texts: readonly string[],
    inputType: EmbedOptions['inputType'],
  ): Pick<PostJsonArgs, 'url' | 'headers' | 'body' | 'ctx'>;
  /** The vectors of a 2xx response text, one per input (throws badResponse otherwise). */
  parse(text: string, inputs: number): number[][];
}

/**
 * An EmbeddingProvider over one JSON-over-HTTP endpoint: checks the batch, paces and sends it
 * (postJson), parses the answer and holds every vector to the provider's dimensions.
 */
export function httpEmbeddingProvider(spec: HttpProviderSpec): EmbeddingProvider {
  const { name, model, maxBatchSize, counter, where, deps } = spec;
  const limiter = (deps.limiters ?? new LimiterRegistry({ now: deps.now })).get(
    { provider: name, model, endpoint: spec.endpoint, apiKey: spec.apiKey },
    spec.limits,
  );
  const scrubber = secretScrubber([spec.apiKey]);
  const scrubKey = (text: string) => scrubber(text);
  let dimensions = spec.dimensions;
  return {
    name,
    model,
    get dimensions() {
      return dimensions;
    },
    maxBatchSize,
    maxInputTokens: spec.maxInputTokens,
    ...(spec.maxBatchTokens === undefined ? {} : { maxBatchTokens: spec.maxBatchTokens }),
    tokenCountExact: counter.exact,
    countTokens: counter.count,
    async embed(texts, embedOptions) {
      embedOptions.signal?.throwIfAborted();
      if (texts.length === 0) return [];
      if (texts.length > maxBatchSize) throw tooManyInputs(name, maxBatchSize, texts.length);
      try {
        const text = await postJson({
          ...spec.request(texts, embedOptions.inputType),
          tokens: texts.reduce((sum, t) => sum + counter.count(t), 0),
          timeoutMs: spec.timeoutMs,
          signal: embedOptions.signal,
          limiter,
          scrub: (t) => scrubber(t, texts),
          deps,
        });
        const vectors = spec.parse(text, texts.length);
        dimensions = checkDimensions(vectors, dimensions, model, where);
        return vectors;
      } catch (error) {
        // The key only: our own words around a provider's text must not turn into "[input]".
        throw scrubError(error, scrubKey);
      }
    },
  };
}
