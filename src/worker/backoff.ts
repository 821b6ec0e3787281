/**
 * Delay before retry `attempt` (1-based): exponential from `baseMs`, capped at `maxMs`, with "equal
 * jitter" (half fixed, half random) so a fleet of workers that failed together does not retry in
 * lockstep. A provider's Retry-After, when longer, wins.
 */
export function backoffMs(
  attempt: number,
  options: { baseMs: number; maxMs: number; random: () => number; retryAfterSeconds?: number | undefined },
): number {
  const exponential = Math.min(options.maxMs, options.baseMs * 2 ** Math.max(0, attempt - 1));
  const jittered = Math.round(exponential / 2 + (exponential / 2) * options.random());
  const retryAfter =
    options.retryAfterSeconds !== undefined ? Math.ceil(options.retryAfterSeconds * 1000) : 0;
  return Math.max(jittered, retryAfter);
}
