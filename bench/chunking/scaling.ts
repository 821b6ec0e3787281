/**
 * Chunking scaling benchmark: every strategy on every pathological shape (bench/chunking/shapes.ts) at
 * doubling sizes, CPU time per MB of each. A linear strategy spends about the same per MB at every
 * size; one whose per-MB cost at the largest size is more than SUPERLINEAR× its cost at the smallest
 * is reported loudly and fails the run (exit code 1). Also fails when any run exceeds MAX_S_PER_MB.
 *
 *   npm run bench:chunking:scaling            # 128 k … 1 M UTF-16 units (about 10 min here)
 *   npm run bench:chunking:scaling -- --quick # 64 k … 256 k
 *
 * Time is CPU time of this process (process.cpuUsage), best of 2 runs per size, after one untimed run
 * of each strategy on each shape at the smallest size; 400/50 tokens of cl100k_base.
 */
import { chunk, chunkHierarchical, STRATEGY_NAMES, tiktokenTokenizer } from '../../src/chunking/index.js';
import { SHAPES } from './shapes.js';

const quick = process.argv.includes('--quick') || process.env.PGEMBED_BENCH_QUICK === '1';
const SIZES = quick ? [65_536, 131_072, 262_144] : [131_072, 262_144, 524_288, 1_048_576];
/** Per-MB cost growing more than this from the smallest to the largest size (8× the text) is superlinear. */
const SUPERLINEAR = 2.5;
/** The bound per MB of CPU time on any shape: far above ordinary text (0.2–0.4 s/MB here). */
const MAX_S_PER_MB = 30;
const tokenizer = tiktokenTokenizer('cl100k_base');
const STRATEGIES = [...STRATEGY_NAMES, 'hierarchical'] as const;

function cpuSeconds(strategy: (typeof STRATEGIES)[number], text: string): number {
  const before = process.cpuUsage();
  if (strategy === 'hierarchical') chunkHierarchical(text, { tokenizer });
  else chunk(text, { strategy, tokenizer });
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1e6;
}

const began = Date.now();
const failures: string[] = [];
const rows: { shape: string; strategy: string; sPerMb: number[] }[] = [];
console.log(`sizes (UTF-16 units): ${SIZES.join(', ')}; s/MB of CPU at each, then growth largest/smallest`);
for (const shape of SHAPES) {
  for (const strategy of STRATEGIES) {
    cpuSeconds(strategy, shape.make(SIZES[0]!));
    const sPerMb = SIZES.map((size) => {
      const text = shape.make(size);
      const mb = Buffer.byteLength(text) / 2 ** 20;
      return Math.min(cpuSeconds(strategy, text), cpuSeconds(strategy, text)) / mb;
    });
    const growth = sPerMb.at(-1)! / Math.max(sPerMb[0]!, 1e-3);
    const worst = Math.max(...sPerMb);
    const bad = growth > SUPERLINEAR ? 'SUPERLINEAR' : worst > MAX_S_PER_MB ? 'OVER BOUND' : '';
    if (bad) failures.push(`${shape.name} / ${strategy}: ${bad}`);
    rows.push({ shape: shape.name, strategy, sPerMb });
    console.log(
      `${bad ? '!!' : '  '} ${shape.name.padEnd(28)} ${strategy.padEnd(12)} ${sPerMb.map((s) => s.toFixed(3).padStart(7)).join(' ')}  ×${growth.toFixed(2)} ${bad}`,
    );
  }
}
if (failures.length > 0) {
  console.error(`\n${failures.length} superlinear or over-bound runs:\n  ${failures.join('\n  ')}`);
}
console.log(
  `\nchunking scaling: ${rows.length} runs in ${((Date.now() - began) / 1000).toFixed(0)} s, ${failures.length} failed`,
);
console.log(
  JSON.stringify({
    bench: 'chunking-scaling',
    sizes: SIZES,
    failed: failures,
    worstSPerMb: Math.max(...rows.flatMap((r) => r.sPerMb)),
    worstGrowth: Math.max(...rows.map((r) => r.sPerMb.at(-1)! / Math.max(r.sPerMb[0]!, 1e-3))),
  }),
);
process.exitCode = failures.length > 0 ? 1 : 0;
