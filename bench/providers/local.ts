/**
 * `local` provider speed: embeddings per CPU-second of all-MiniLM-L6-v2 on 200 passages of ~65 words:
 * the default model (`all-MiniLM-L6-v2-int8`: int8 weights on onnxruntime-node) and the fp32 model
 * (`all-MiniLM-L6-v2`) on ONNX, against the fp32 model on the WASM engine of @lat.md/embed, in the same
 * run and process. CPU time is process.cpuUsage() (user + system, every thread), so a multi-threaded
 * engine cannot look faster by using more cores. All through `createLocalProvider`, exactly as the
 * worker calls it; models are loaded (and the ONNX models built or read from their cache) before
 * measuring. Goal: ≥ 40 embeddings per CPU-second with the default model.
 *
 *   npm run bench:providers            # runs this after the pacing benchmark
 *   npx tsx bench/providers/local.ts [--quick]
 */
import { createLocalProvider, LOCAL_INT8_MODEL, LOCAL_MODEL } from '../../src/providers/local.js';
import { documentText, isQuick, report } from '../support/common.js';

const PASSAGES = isQuick() ? 50 : 200;
const passages = Array.from({ length: PASSAGES }, (_, i) => documentText(10_000 + i, 65));

async function measure(model: string, engine: 'onnx' | 'wasm') {
  let used: string | undefined;
  const provider = createLocalProvider({ model, engine, onEngine: (e) => (used = e) });
  await provider.embed(['warm-up: load the model'], { inputType: 'document' });
  const expected = model === LOCAL_INT8_MODEL ? 'onnx-int8' : engine;
  if (used !== expected) throw new Error(`asked for ${model} on ${engine}, got ${used}`);
  const cpu = process.cpuUsage();
  const began = performance.now();
  const vectors = await provider.embed(passages, { inputType: 'document' });
  const wallS = (performance.now() - began) / 1000;
  const { user, system } = process.cpuUsage(cpu);
  await provider.close?.();
  const cpuS = (user + system) / 1e6;
  return { vectors, cpuS, wallS, perCpuSecond: PASSAGES / cpuS, perSecond: PASSAGES / wallS };
}

const int8 = await measure(LOCAL_INT8_MODEL, 'onnx');
const onnx = await measure(LOCAL_MODEL, 'onnx');
const wasm = await measure(LOCAL_MODEL, 'wasm');
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
      metric: `embeddings per CPU-second, default model ${LOCAL_INT8_MODEL}`,
      pgembed: int8.perCpuSecond,
      baseline: wasm.perCpuSecond,
      unit: 'emb/CPU-s',
      ratio: int8.perCpuSecond / wasm.perCpuSecond,
      goal: '≥ 40',
      met: int8.perCpuSecond >= 40,
    },
    {
      metric: `embeddings per CPU-second, ${LOCAL_MODEL} (fp32) on ONNX`,
      pgembed: onnx.perCpuSecond,
      baseline: wasm.perCpuSecond,
      unit: 'emb/CPU-s',
      ratio: onnx.perCpuSecond / wasm.perCpuSecond,
      goal: '',
      met: null,
    },
    {
      metric: 'int8 against fp32 on ONNX, embeddings per CPU-second',
      pgembed: int8.perCpuSecond,
      baseline: onnx.perCpuSecond,
      unit: 'emb/CPU-s',
      ratio: int8.perCpuSecond / onnx.perCpuSecond,
      goal: '',
      met: null,
    },
    {
      metric: 'embeddings per wall-second, default model',
      pgembed: int8.perSecond,
      baseline: wasm.perSecond,
      unit: 'emb/s',
      ratio: int8.perSecond / wasm.perSecond,
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
      metric: 'lowest cosine int8 vs fp32 (WASM)',
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
