/**
 * Scores of a ranking evaluation and their paired-bootstrap confidence intervals: both systems
 * answered the same questions, so the interval is that of the mean per-question difference,
 * resampling questions with replacement (seeded, so a run is repeatable).
 */

export const K = 10;

/** Per-question outcome: the gold page's rank (1-based), or 0 when it is not in the top K. */
export interface Scored {
  ranks: number[];
}

export const reciprocal = (rank: number) => (rank > 0 && rank <= K ? 1 / rank : 0);
export const hitAt = (n: number) => (rank: number) => (rank > 0 && rank <= n ? 1 : 0);

export const METRICS = {
  'R@1': hitAt(1),
  'R@5': hitAt(5),
  'MRR@10': reciprocal,
} as const;
export type Metric = keyof typeof METRICS;

export function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

export function score(ranks: readonly number[], metric: Metric): number {
  return mean(ranks.map(METRICS[metric]));
}

/** mulberry32: a small seeded generator, so intervals are the same on every run. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Difference {
  delta: number;
  /** 95 % paired-bootstrap interval of the difference. */
  low: number;
  high: number;
}

/** Mean of metric(a) − metric(b) over the questions, with its 95 % paired-bootstrap interval. */
export function pairedDifference(
  a: readonly number[],
  b: readonly number[],
  metric: Metric,
  resamples = 4000,
): Difference {
  const f = METRICS[metric];
  const d = a.map((rank, i) => f(rank) - f(b[i]!));
  const random = generator(0x5eed);
  const means = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let sum = 0;
    for (let i = 0; i < d.length; i++) sum += d[Math.floor(random() * d.length)]!;
    means[r] = sum / d.length;
  }
  means.sort();
  return {
    delta: mean(d),
    low: means[Math.floor(0.025 * resamples)]!,
    high: means[Math.ceil(0.975 * resamples) - 1]!,
  };
}

export function formatDifference({ delta, low, high }: Difference, digits = 3): string {
  const sign = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(digits)}`;
  return `${sign(delta)} [${sign(low)}, ${sign(high)}]`;
}
