/**
 * Runs every benchmark in sequence, each in its own process (and its own throw-away cluster), then
 * prints one summary line per benchmark. `--quick` (or PGEMBED_BENCH_QUICK=1) is passed through.
 *
 *   npm run bench            # full sizes, < 10 min on 2 cores
 *   npm run bench -- --quick
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BENCHMARKS = [
  'ingest.ts',
  'ingest-hnsw.ts',
  'freshness.ts',
  'write-tax.ts',
  'write-tax-pgbench.ts',
  'chunking/scaling.ts',
];
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const passThrough = process.argv.includes('--quick') ? ['--quick'] : [];

function run(script: string): Promise<{ code: number | null; lastLine: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL(script, import.meta.url)), ...passThrough],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let output = '';
    child.stdout.on('data', (data: Buffer) => {
      output += data.toString();
      process.stdout.write(data);
    });
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, lastLine: output.trim().split('\n').at(-1) ?? '' }));
  });
}

const began = Date.now();
const summary: unknown[] = [];
let failed = 0;
for (const script of BENCHMARKS) {
  const { code, lastLine } = await run(script);
  if (code !== 0) {
    failed++;
    console.error(`${script} exited with ${code}`);
    continue;
  }
  summary.push(JSON.parse(lastLine));
}
console.log(
  `\nall benchmarks: ${((Date.now() - began) / 1000).toFixed(0)} s${failed ? `, ${failed} failed` : ''}`,
);
console.log(JSON.stringify({ bench: 'all', runs: summary }));
process.exitCode = failed ? 1 : 0;
