/**
 * The shared pacing limiter: buckets from configuration and from x-ratelimit-* headers, pauses on
 * 429 and on an exhausted bucket, AIMD concurrency, FIFO, abort. Time is injected.
 */
import { describe, expect, it } from 'vitest';
import { LimiterRegistry, parseDuration, RateLimiter } from '../../src/providers/limiter.js';

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

const settled = async (promise: Promise<unknown>) => {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
};

describe('RateLimiter', () => {
  it('lets requests through immediately while the configured budget lasts, then paces them', async () => {
    const time = clock();
    const limiter = new RateLimiter({ requestsPerMinute: 2, maxConcurrency: 8 }, time);
    limiter.release(await limiter.acquire(10), { status: 200 });
    limiter.release(await limiter.acquire(10), { status: 200 });
    expect(await settled(limiter.acquire(10))).toBe(false);
    expect(limiter.snapshot()).toMatchObject({ requestsPerMinute: 2, queued: 1 });
  });

  it('refills continuously: a drained token bucket admits the next request after tokens / rate', async () => {
    const time = clock();
    const limiter = new RateLimiter({ tokensPerMinute: 6000 }, time);
    limiter.release(await limiter.acquire(6000), { status: 200 });
    const next = limiter.acquire(10); // 10 tokens at 100/s: 100 ms
    time.advance(90);
    // Its timer fires in real time and finds the bucket still 1 token short, however late it runs.
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(await settled(next)).toBe(false);
    time.advance(10);
    limiter.release(await next, { status: 200 });
  });

  it('a token budget larger than one request lets a single huge request through when the bucket is full', async () => {
    const limiter = new RateLimiter({ tokensPerMinute: 1000 });
    const permit = await limiter.acquire(5000);
    expect(permit.tokens).toBe(5000);
  });

  it('learns the limits from x-ratelimit headers; remaining only lowers the estimate', async () => {
    const time = clock();
    const limiter = new RateLimiter({}, time);
    const permit = await limiter.acquire(100);
    limiter.release(permit, {
      status: 200,
      headers: new Headers({
        'x-ratelimit-limit-requests': '3000',
        'x-ratelimit-limit-tokens': '1000000',
        'x-ratelimit-remaining-requests': '2999',
        'x-ratelimit-remaining-tokens': '0',
        'x-ratelimit-reset-tokens': '6m0s',
      }),
    });
    expect(limiter.snapshot()).toMatchObject({ requestsPerMinute: 3000, tokensPerMinute: 1_000_000 });
    // The token bucket is empty: a request waits for its tokens to refill (60 ms for 1,000 at
    // 1 M/min), not for OpenAI's 6-minute "reset to full".
    expect(limiter.snapshot().pausedForMs).toBe(0);
    expect(await settled(limiter.acquire(1000))).toBe(false);
  });

  it('without a limit header, an exhausted bucket pauses until its reset', async () => {
    const time = clock();
    const limiter = new RateLimiter({}, time);
    limiter.release(await limiter.acquire(1), {
      status: 200,
      headers: new Headers({
        'x-ratelimit-remaining-requests': '0',
        'x-ratelimit-reset-requests': '20s',
      }),
    });
    expect(limiter.snapshot().pausedForMs).toBe(20_000);
  });

  it('configured limits below the headers win', async () => {
    const limiter = new RateLimiter({ requestsPerMinute: 60 });
    limiter.release(await limiter.acquire(1), {
      status: 200,
      headers: new Headers({
        'x-ratelimit-limit-requests': '3000',
        'x-ratelimit-remaining-requests': '2999',
      }),
    });
    expect(limiter.snapshot().requestsPerMinute).toBe(60);
  });

  it('a 429 halves the concurrency and pauses everyone for the Retry-After; successes grow it back', async () => {
    const time = clock();
    const events: { retryAfterSeconds: number; concurrency: number }[] = [];
    const limiter = new RateLimiter(
      { maxConcurrency: 16 },
      { ...time, onRateLimited: (e) => events.push(e) },
    );
    expect(limiter.snapshot().concurrency).toBe(4);
    for (let i = 0; i < 40; i++) limiter.release(await limiter.acquire(1), { status: 200 });
    const grown = limiter.snapshot().concurrency;
    expect(grown).toBeGreaterThan(8);
    limiter.release(await limiter.acquire(1), { status: 429, retryAfterSeconds: 2 });
    expect(events).toEqual([{ retryAfterSeconds: 2, concurrency: Math.floor(grown / 2) }]);
    expect(limiter.snapshot()).toMatchObject({ pausedForMs: 2000 });
    expect(await settled(limiter.acquire(1))).toBe(false);
  });

  it('never has more requests in flight than its concurrency, and serves waiters in order', async () => {
    const limiter = new RateLimiter({ maxConcurrency: 2, requestsPerMinute: 1000 });
    const first = await limiter.acquire(1);
    await limiter.acquire(1);
    const order: number[] = [];
    const third = limiter.acquire(1).then(() => order.push(3));
    const fourth = limiter.acquire(1).then(() => order.push(4));
    expect(limiter.snapshot()).toMatchObject({ inFlight: 2, queued: 2 });
    limiter.release(first, { status: 200 });
    await third;
    expect(order).toEqual([3]);
    expect(await settled(fourth)).toBe(false);
  });

  it('without configured limits, the first request goes alone until its answer sizes the buckets', async () => {
    const limiter = new RateLimiter({});
    const first = await limiter.acquire(1);
    const second = limiter.acquire(1);
    expect(await settled(second)).toBe(false);
    limiter.release(first, { status: 200 });
    await second;
    // Then up to the initial concurrency at once.
    await limiter.acquire(1);
    await limiter.acquire(1);
    expect(limiter.snapshot().inFlight).toBe(3);
  });

  it('an aborted waiter leaves the queue with the signal reason', async () => {
    const limiter = new RateLimiter({ maxConcurrency: 1 });
    await limiter.acquire(1);
    const controller = new AbortController();
    const waiting = limiter.acquire(1, controller.signal);
    controller.abort(new Error('stopping'));
    await expect(waiting).rejects.toThrow('stopping');
    expect(limiter.snapshot().queued).toBe(0);
  });
});

describe('LimiterRegistry', () => {
  it('applies changed limits to the shared limiter (set_provider_options on a running worker)', () => {
    const registry = new LimiterRegistry();
    const id = { provider: 'voyage', model: 'm', endpoint: 'https://x', apiKey: 'k' };
    const limiter = registry.get(id, { requestsPerMinute: 300 });
    expect(registry.get(id, { requestsPerMinute: 60, tokensPerMinute: 1000 })).toBe(limiter);
    expect(limiter.snapshot()).toMatchObject({ requestsPerMinute: 60, tokensPerMinute: 1000 });
  });

  it('shares one limiter per provider, model, endpoint and key', () => {
    const registry = new LimiterRegistry();
    const id = { provider: 'openai', model: 'm', endpoint: 'https://x', apiKey: 'k1' };
    expect(registry.get(id, {})).toBe(registry.get({ ...id }, {}));
    expect(registry.get(id, {})).not.toBe(registry.get({ ...id, apiKey: 'k2' }, {}));
    expect(registry.get(id, {})).not.toBe(registry.get({ ...id, model: 'n' }, {}));
  });
});

describe('parseDuration', () => {
  it('reads OpenAI reset durations', () => {
    expect(parseDuration('6m0s')).toBe(360);
    expect(parseDuration('1s')).toBe(1);
    expect(parseDuration('20ms')).toBe(0.02);
    expect(parseDuration('1h2m3.5s')).toBe(3723.5);
    expect(parseDuration('2.5')).toBe(2.5);
    expect(parseDuration('soon')).toBeUndefined();
  });
});
