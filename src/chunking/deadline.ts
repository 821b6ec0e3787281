/**
 * A budget for chunking one document. Chunking is synchronous, so a worker cannot interrupt it from
 * outside: the strategies call `check()` in their loops (per chunk, per refined span, per Markdown
 * block, per paragraph of sentences), which throws CHUNKING_TIMEOUT once the budget is spent. Checks
 * cost one clock read (~30 ns) per unit of work that itself costs microseconds, and nothing when no
 * deadline is given.
 */
import { PgembedError } from '../errors.js';

export interface ChunkDeadline {
  /** Throws CHUNKING_TIMEOUT when the budget is spent. */
  check(): void;
}

/**
 * A deadline `budgetMs` from now, on the clock the caller gives (default `performance.now`): wall
 * time, which for synchronous code is the time it blocks its thread. `what` names the document in the
 * error ("document 42 of pipeline docs").
 */
export function chunkingDeadline(
  budgetMs: number,
  what: () => string,
  now: () => number = () => performance.now(),
): ChunkDeadline {
  const began = now();
  const end = began + budgetMs;
  return {
    check() {
      const at = now();
      if (at <= end) return;
      throw new PgembedError(
        'CHUNKING_TIMEOUT',
        `chunking ${what()} took more than its ${budgetMs} ms budget (stopped after ${Math.round(at - began)} ms): ` +
          "chunk it with a cheaper strategy (token is the cheapest), split the document, or raise the worker's chunkingBudgetMs",
        { kind: 'permanent' },
      );
    },
  };
}
