import { createHash } from 'node:crypto';

/**
 * Pacing for one (provider, model, key): every concurrent request of a worker that uses the same
 * account goes through the same limiter, so they share one budget instead of racing each other
 * into 429s.
 *
 * - Two token buckets, requests and tokens per minute. Their size comes from configuration
 *   (`requestsPerMinute`, `tokensPerMinute`) and/or from the provider's `x-ratelimit-limit-*`
 *   headers (the smaller wins); `x-ratelimit-remaining-*` can only lower our estimate, because the
 *   server may see traffic we do not (other workers, other apps on the key); when a server sends
 *   remaining and reset but no limit, `x-ratelimit-reset-*` of an exhausted bucket pauses everyone
 *   until then.
 * - Buckets refill continuously (limit / 60 s), as OpenAI documents its limits to behave, and start
 *   full: a fresh key can burst one minute's budget, like the server allows.
 * - Adaptive concurrency (AIMD, as TCP does): the number of requests in flight may grow by one per
 *   round trip while requests succeed and halves on every 429, which also pauses all requests for
 *   the Retry-After (1 s when the server gives none).
 * - FIFO: a large request is never starved by small ones behind it.
 * - Without configured limits, the very first request is sent alone, so that the headers of its
 *   answer size the buckets before the others go out.
 */
export interface RateLimits {
  /** Requests per minute allowed on this key; `undefined`: only what the headers say. */
  requestsPerMinute?: number | undefined;
  /** Input tokens per minute; `undefined`: only what the headers say. */
  tokensPerMinute?: number | undefined;
  /** Upper bound of the adaptive concurrency. Default 16. */
  maxConcurrency?: number | undefined;
}

export interface LimiterDeps {
  /** Epoch milliseconds. Default `Date.now`. */
  now?: () => number;
  /** Called on every 429 seen by this limiter (inline retries included). */
  onRateLimited?: (info: { retryAfterSeconds: number; concurrency: number }) => void;
}

export interface Permit {
  readonly tokens: number;
  /** When the request was let through, and how much had been let through before it. */
  readonly sentAt: number;
  readonly tokensBefore: number;
  readonly requestsBefore: number;
}

export interface RequestOutcome {
  status?: number | undefined;
  headers?: Headers | undefined;
  /** For a 429: how long the server asked us to wait. */
  retryAfterSeconds?: number | undefined;
}

export interface LimiterSnapshot {
  concurrency: number;
  inFlight: number;
  queued: number;
  requestsPerMinute: number | undefined;
  tokensPerMinute: number | undefined;
  pausedForMs: number;
}

const DEFAULT_MAX_CONCURRENCY = 16;
/** Start like TCP slow start: a few requests, then grow while the server keeps saying yes. */
const INITIAL_CONCURRENCY = 4;
const MINUTE_MS = 60_000;

class Bucket {
  level: number;
  private updatedAt: number;
  constructor(
    public capacity: number,
    now: number,
  ) {
    this.level = capacity;
    this.updatedAt = now;
  }
  refill(now: number): void {
    const elapsed = Math.max(0, now - this.updatedAt);
    this.level = Math.min(this.capacity, this.level + (elapsed * this.capacity) / MINUTE_MS);
    this.updatedAt = now;
  }
  /** Milliseconds until `amount` (capped at the capacity) is available; 0 when it is now. */
  waitFor(amount: number): number {
    const needed = Math.min(amount, this.capacity);
    if (this.level >= needed) return 0;
    return Math.ceil(((needed - this.level) * MINUTE_MS) / this.capacity);
  }
}

interface Waiter {
  tokens: number;
  resolve: (permit: Permit) => void;
  reject: (reason: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

export class RateLimiter {
  private readonly now: () => number;
  private readonly onRateLimited: LimiterDeps['onRateLimited'];
  private configured: RateLimits;
  private maxConcurrency: number;
  private requests: Bucket | undefined;
  private tokens: Bucket | undefined;
  private concurrency: number;
  private inFlight = 0;
  private pausedUntil = 0;
  /** Totals let through so far: tell which of our requests a server's answer had not yet seen. */
  private sentTokens = 0;
  private sentRequests = 0;
  /** Until the first answer, we know nothing about the key's limits: one request at a time. */
  private answered = false;
  private readonly queue: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(limits: RateLimits = {}, deps: LimiterDeps = {}) {
    this.now = deps.now ?? Date.now;
    this.onRateLimited = deps.onRateLimited;
    this.configured = limits;
    this.maxConcurrency = limits.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY;
    this.concurrency = Math.min(INITIAL_CONCURRENCY, this.maxConcurrency);
    const now = this.now();
    if (limits.requestsPerMinute) this.requests = new Bucket(limits.requestsPerMinute, now);
    if (limits.tokensPerMinute) this.tokens = new Bucket(limits.tokensPerMinute, now);
  }

  /**
   * Applies changed configured limits (pgembed.set_provider_options on a running worker). Buckets
   * keep their level, capped at the new size; header-learnt sizes still win when smaller.
   */
  reconfigure(limits: RateLimits): void {
    const same =
      limits.requestsPerMinute === this.configured.requestsPerMinute &&
      limits.tokensPerMinute === this.configured.tokensPerMinute &&
      limits.maxConcurrency === this.configured.maxConcurrency;
    if (same) return;
    this.configured = limits;
    this.maxConcurrency = limits.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY;
    this.concurrency = Math.min(this.concurrency, this.maxConcurrency);
    const now = this.now();
    for (const kind of ['requests', 'tokens'] as const) {
      const value = kind === 'requests' ? limits.requestsPerMinute : limits.tokensPerMinute;
      const bucket = kind === 'requests' ? this.requests : this.tokens;
      if (!value) continue;
      if (bucket) {
        bucket.refill(now);
        bucket.capacity = value;
        bucket.level = Math.min(bucket.level, value);
      } else if (kind === 'requests') {
        this.requests = new Bucket(value, now);
      } else {
        this.tokens = new Bucket(value, now);
      }
    }
    this.pump();
  }

  /** Waits until a request of `tokens` input tokens may be sent. Rejects with the signal's reason. */
  acquire(tokens: number, signal?: AbortSignal): Promise<Permit> {
    signal?.throwIfAborted();
    return new Promise<Permit>((resolve, reject) => {
      const waiter: Waiter = {
        tokens,
        resolve,
        reject,
        signal,
        onAbort: () => {
          const index = this.queue.indexOf(waiter);
          if (index >= 0) this.queue.splice(index, 1);
          reject(signal?.reason);
          this.pump();
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.queue.push(waiter);
      this.pump();
    });
  }

  /** Reports how a request sent under `permit` ended, and frees its slot. */
  release(permit: Permit, outcome: RequestOutcome = {}): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    if (outcome.status !== undefined) this.answered = true;
    const now = this.now();
    if (outcome.headers) this.observeHeaders(outcome.headers, now, permit);
    if (outcome.status === 429) {
      const retryAfterSeconds = outcome.retryAfterSeconds ?? 1;
      this.concurrency = Math.max(1, this.concurrency / 2);
      this.pausedUntil = Math.max(this.pausedUntil, now + retryAfterSeconds * 1000);
      try {
        this.onRateLimited?.({ retryAfterSeconds, concurrency: Math.floor(this.concurrency) });
      } catch {
        // An observer must never break pacing.
      }
    } else if (outcome.status !== undefined && outcome.status < 400) {
      // Additive increase: about +1 per round trip of a full window.
      this.concurrency = Math.min(this.maxConcurrency, this.concurrency + 1 / this.concurrency);
    }
    this.pump();
  }

  snapshot(): LimiterSnapshot {
    const now = this.now();
    return {
      concurrency: Math.floor(this.concurrency),
      inFlight: this.inFlight,
      queued: this.queue.length,
      requestsPerMinute: this.requests?.capacity,
      tokensPerMinute: this.tokens?.capacity,
      pausedForMs: Math.max(0, this.pausedUntil - now),
    };
  }

  private observeHeaders(headers: Headers, now: number, permit: Permit): void {
    for (const kind of ['requests', 'tokens'] as const) {
      const limit = numberHeader(headers, `x-ratelimit-limit-${kind}`);
      const remaining = numberHeader(headers, `x-ratelimit-remaining-${kind}`);
      const configured =
        kind === 'requests' ? this.configured.requestsPerMinute : this.configured.tokensPerMinute;
      let bucket = kind === 'requests' ? this.requests : this.tokens;
      if (limit !== undefined && limit > 0) {
        const capacity = configured ? Math.min(configured, limit) : limit;
        if (!bucket) {
          bucket = new Bucket(capacity, now);
          if (kind === 'requests') this.requests = bucket;
          else this.tokens = bucket;
        } else {
          bucket.refill(now);
          bucket.capacity = capacity;
          bucket.level = Math.min(bucket.level, capacity);
        }
      }
      if (bucket && remaining !== undefined) {
        bucket.refill(now);
        // `remaining` is the server's count when this request arrived. Since then the bucket has
        // refilled, and the requests we sent after this one were taken from it (or will be): bring
        // the count up to now before comparing, or every answer would throw away one round trip's
        // refill (8 % of the budget at 50 ms latency in the pacing benchmark).
        const sentSince =
          kind === 'requests'
            ? this.sentRequests - permit.requestsBefore - 1
            : this.sentTokens - permit.tokensBefore - permit.tokens;
        const current =
          remaining + (Math.max(0, now - permit.sentAt) * bucket.capacity) / MINUTE_MS - sentSince;
        bucket.level = Math.min(bucket.level, current);
      }
      // With a known limit the bucket refills at limit/min and an empty one already makes requests
      // wait; OpenAI's reset is the time until the bucket is *full* again, so pausing until then
      // would leave the key idle. Without a known limit, the reset is all we have.
      if (remaining !== undefined && remaining <= 0 && !bucket) {
        const reset = parseDuration(headers.get(`x-ratelimit-reset-${kind}`));
        if (reset !== undefined) this.pausedUntil = Math.max(this.pausedUntil, now + reset * 1000);
      }
    }
  }

  private pump(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      // Without configured limits, the first request goes alone: its answer's x-ratelimit headers
      // (or 429) tell us the budget before a burst of requests can overrun it.
      const known = this.answered || this.requests !== undefined || this.tokens !== undefined;
      if (this.inFlight >= (known ? Math.floor(this.concurrency) : 1)) return; // a release will pump again
      const now = this.now();
      this.requests?.refill(now);
      this.tokens?.refill(now);
      const wait = Math.max(
        this.pausedUntil - now,
        this.requests?.waitFor(1) ?? 0,
        this.tokens?.waitFor(head.tokens) ?? 0,
      );
      if (wait > 0) {
        this.timer = setTimeout(() => this.pump(), wait);
        this.timer.unref?.();
        return;
      }
      this.queue.shift();
      head.signal?.removeEventListener('abort', head.onAbort);
      if (this.requests) this.requests.level -= 1;
      if (this.tokens) this.tokens.level -= head.tokens;
      this.inFlight++;
      const permit: Permit = {
        tokens: head.tokens,
        sentAt: now,
        tokensBefore: this.sentTokens,
        requestsBefore: this.sentRequests,
      };
      this.sentTokens += head.tokens;
      this.sentRequests += 1;
      head.resolve(permit);
    }
  }
}

/**
 * One limiter per (provider, model, endpoint, key), shared by all of a worker's requests. The key is
 * only ever held as a truncated SHA-256, so a registry dump cannot leak it.
 */
export interface RegistryDeps {
  now?: (() => number) | undefined;
  /** Every 429 seen by any limiter of the registry, with whose it was. */
  onRateLimited?: (info: {
    provider: string;
    model: string;
    retryAfterSeconds: number;
    concurrency: number;
  }) => void;
}

export class LimiterRegistry {
  private readonly limiters = new Map<string, RateLimiter>();
  constructor(private readonly deps: RegistryDeps = {}) {}

  get(
    identity: { provider: string; model: string; endpoint: string; apiKey?: string | undefined },
    limits: RateLimits,
  ): RateLimiter {
    const keyHash = identity.apiKey
      ? createHash('sha256').update(identity.apiKey).digest('hex').slice(0, 16)
      : '';
    const id = JSON.stringify([identity.provider, identity.model, identity.endpoint, keyHash]);
    let limiter = this.limiters.get(id);
    limiter?.reconfigure(limits);
    if (!limiter) {
      const { onRateLimited, now } = this.deps;
      limiter = new RateLimiter(limits, {
        ...(now ? { now } : {}),
        ...(onRateLimited
          ? {
              onRateLimited: (info) =>
                onRateLimited({ provider: identity.provider, model: identity.model, ...info }),
            }
          : {}),
      });
      this.limiters.set(id, limiter);
    }
    return limiter;
  }
}

function numberHeader(headers: Headers, name: string): number | undefined {
  const value = headers.get(name)?.trim();
  if (!value || !/^\d+(\.\d+)?$/.test(value)) return undefined;
  return Number(value);
}

/** "1h2m3.5s", "6m0s", "20ms", or plain seconds "1.5" → seconds. */
export function parseDuration(value: string | null | undefined): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  const match =
    /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$/.exec(
      trimmed,
    );
  if (!match || match[0] === '') return undefined;
  const [, h = '0', m = '0', s = '0', msPart = '0'] = match;
  return Number(h) * 3600 + Number(m) * 60 + Number(s) + Number(msPart) / 1000;
}
