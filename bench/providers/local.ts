/**
 * `local` provider speed: embeddings per CPU-second of all-MiniLM-L6-v2 on 200 passages of ~65 words,
 * the ONNX path (onnxruntime-node, model built from the package's weights) against the WASM engine of
 * @lat.md/embed, in the same run and process. CPU time is process.cpuUsage() (user + system, every
 * thread), so a multi-threaded engine cannot look faster by using more cores. Both through
 * `createLocalProvider`, exactly as the worker calls them; models are loaded (and the ONNX model built
 * or read from its cache) before measuring. Goal: ≥ 40 embeddings per CPU-second on the ONNX path.
 * The opt-in int8 model (PGEMBED_LOCAL_ENGINE=onnx-int8) is measured too.
 *
 *   npm run bench:providers            # runs this after the pacing benchmark
 *   npx tsx bench/providers/local.ts [--quick]
 */
import { createLocalProvider } from '../../src/providers/local.js';
import { documentText, isQuick, report } from '../support/common.js';

const PASSAGES = isQuick() ? 50 : 200;
const passages = Array.from({ length: PASSAGES }, (_, i) => documentText(10_000 + i, 65));

async function measure(engine: 'onnx' | 'onnx-int8' | 'wasm') {
  let used: string | undefined;
  const provider = createLocalProvider({ engine, onEngine: (e) => (used = e) });
  await provider.embed(['warm-up: load the model'], { inputType: 'document' });
  if (used !== engine) throw new Error(`asked for ${engine}, got ${used}`);
  const cpu = process.cpuUsage();
  const began = performance.now();
  const vectors = await provider.embed(passages, { inputType: 'document' });
  const wallS = (performance.now() - began) / 1000;
  const { user, system } = process.cpuUsage(cpu);
  await provider.close?.();
  const cpuS = (user + system) / 1e6;
  return { vectors, cpuS, wallS, perCpuSecond: PASSAGES / cpuS, perSecond: PASSAGES / wallS };
}

const onnx = await measure('onnx');
const int8 = await measure('onnx-int8');
const wasm = await measure('wasm');
const lowestCosine = (a: number[][], b: number[][]) => {
  let min = 1;
  for (let i = 0; i < PASSAGES; i++) {
    let dot = 0;
    for (let d = 0; d < 384; d++) dot += a[i]![d]! * b[i]![d]!;
    min = Math.min(min, dot);
  }
  return min;
};
const minCosine = lowestCosine(onnx.vectors, wasm.vectors);
const int8Cosine = lowestCosine(int8.vectors, wasm.vectors);

report(
  `providers: local all-MiniLM-L6-v2, ${PASSAGES} passages of ~65 words`,
  [
    {
      metric: 'embeddings per CPU-second',
      pgembed: onnx.perCpuSecond,
      baseline: wasm.perCpuSecond,
      unit: 'emb/CPU-s',
      ratio: onnx.perCpuSecond / wasm.perCpuSecond,
      goal: '≥ 40',
      met: onnx.perCpuSecond >= 40,
    },
    {
      metric: 'embeddings per CPU-second, int8 (opt-in)',
      pgembed: int8.perCpuSecond,
      baseline: wasm.perCpuSecond,
      unit: 'emb/CPU-s',
      ratio: int8.perCpuSecond / wasm.perCpuSecond,
      goal: '',
      met: null,
    },
    {
      metric: 'embeddings per wall-second',
      pgembed: onnx.perSecond,
      baseline: wasm.perSecond,
      unit: 'emb/s',
      ratio: onnx.perSecond / wasm.perSecond,
      goal: '',
      met: null,
    },
    {
      metric: 'lowest cosine ONNX vs WASM',
      pgembed: minCosine,
      baseline: null,
      unit: '',
      ratio: null,
      goal: '≥ 0.9999',
      met: minCosine >= 0.9999,
    },
    {
      metric: 'lowest cosine int8 vs WASM',
      pgembed: int8Cosine,
      baseline: null,
      unit: '',
      ratio: null,
      goal: '≥ 0.98',
      met: int8Cosine >= 0.98,
    },
  ],
  {
    passages: PASSAGES,
    onnx: { cpuS: onnx.cpuS, wallS: onnx.wallS },
    onnxInt8: { cpuS: int8.cpuS, wallS: int8.wallS },
    wasm: { cpuS: wasm.cpuS, wallS: wasm.wallS },
  },
);
