/**
 * all-MiniLM-L6-v2 on onnxruntime-node (native CPU kernels, several times faster than the WASM
 * engine). The ONNX model is built from the weights package on first use (see minilmGraph.ts) and
 * cached on disk under a name derived from the weights' SHA-256 and the graph version, so it is
 * built once per machine and never downloaded.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { buildMiniLMOnnx, GRAPH_VERSION, type Precision } from './minilmGraph.js';

/** The model reads 256 word pieces, [CLS] and [SEP] included; longer inputs are cut (as the WASM engine does). */
const MAX_TOKENS = 256;
const CLS = 101;
const SEP = 102;
const HIDDEN = 384;
/** Padding positions get this added to their attention scores: exp() of it is exactly 0. */
const MASKED = -1e9;

export interface MiniLMManifest {
  weightsPath: string;
  tokenizerPath: string;
}

export interface OnnxEmbedder {
  embed(texts: readonly string[]): Promise<number[][]>;
  /** Where the ONNX model was read from or written to. */
  readonly modelPath: string;
  /** Frees the native session. */
  release(): Promise<void>;
}

type Ort = typeof import('onnxruntime-node');

/** `$PGEMBED_CACHE_DIR`, else `$XDG_CACHE_HOME/pgembed`, else `~/.cache/pgembed` (tmpdir if no home). */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PGEMBED_CACHE_DIR) return env.PGEMBED_CACHE_DIR;
  const base = env.XDG_CACHE_HOME || (homedir() ? join(homedir(), '.cache') : tmpdir());
  return join(base, 'pgembed');
}

/** Builds (or reuses) the cached ONNX model for these weights; returns its path. */
export function ensureOnnxModel(
  manifest: MiniLMManifest,
  dir = cacheDir(),
  precision: Precision = 'fp32',
): string {
  const digest = createHash('sha256').update(readFileSync(manifest.weightsPath)).digest('hex').slice(0, 16);
  const suffix = precision === 'fp32' ? '' : `-${precision}`;
  const path = join(dir, `all-MiniLM-L6-v2-${digest}-g${GRAPH_VERSION}${suffix}.onnx`);
  try {
    readFileSync(path, { flag: 'r' }).subarray(0, 0);
    return path;
  } catch {
    // Not cached yet.
  }
  mkdirSync(dir, { recursive: true });
  const bytes = buildMiniLMOnnx(manifest.weightsPath, precision);
  // Write then rename: a concurrent builder or a crash never leaves a half-written model behind.
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, bytes);
  renameSync(temporary, path);
  return path;
}

/** Loads onnxruntime-node and the model; throws when the native runtime is unavailable. */
export async function createOnnxEmbedder(
  manifest: MiniLMManifest,
  options: { threads?: number; precision?: Precision } = {},
): Promise<OnnxEmbedder> {
  const ort: Ort = await import('onnxruntime-node');
  const modelPath = ensureOnnxModel(manifest, cacheDir(), options.precision ?? 'fp32');
  const session = await ort.InferenceSession.create(modelPath, {
    graphOptimizationLevel: 'all',
    // One thread per session: the worker already runs batches concurrently, and embeddings per
    // CPU-second (what a shared machine pays for) are best single-threaded.
    intraOpNumThreads: options.threads ?? 1,
    interOpNumThreads: 1,
  });
  const output = session.outputNames[0]!;
  const tokenizer = new HfTokenizer(JSON.parse(readFileSync(manifest.tokenizerPath, 'utf8')), {});

  const tokenize = (text: string): number[] => {
    const ids = tokenizer.encode(text).ids.map(Number);
    if (ids.length <= MAX_TOKENS) return ids;
    return [...ids.slice(0, MAX_TOKENS - 1), SEP];
  };

  const run = async (group: number[][]): Promise<number[][]> => {
    const length = Math.max(...group.map((ids) => ids.length));
    const batch = group.length;
    const inputIds = new BigInt64Array(batch * length);
    const positions = new BigInt64Array(batch * length);
    const bias = new Float32Array(batch * length).fill(MASKED);
    group.forEach((ids, b) => {
      ids.forEach((id, t) => {
        inputIds[b * length + t] = BigInt(id);
        positions[b * length + t] = BigInt(t);
        bias[b * length + t] = 0;
      });
    });
    const result = await session.run({
      input_ids: new ort.Tensor('int64', inputIds, [batch, length]),
      position_ids: new ort.Tensor('int64', positions, [batch, length]),
      attention_bias: new ort.Tensor('float32', bias, [batch, 1, 1, length]),
    });
    const hidden = result[output]!.data as Float32Array;
    // Mean pooling over the real tokens, then L2 normalisation (sentence-transformers' recipe).
    return group.map((ids, b) => {
      const sum = new Float64Array(HIDDEN);
      for (let t = 0; t < ids.length; t++) {
        const row = (b * length + t) * HIDDEN;
        for (let d = 0; d < HIDDEN; d++) sum[d]! += hidden[row + d]!;
      }
      let norm = 0;
      for (let d = 0; d < HIDDEN; d++) {
        sum[d]! /= ids.length;
        norm += sum[d]! * sum[d]!;
      }
      norm = Math.sqrt(norm) || 1;
      return Array.from(sum, (value) => value / norm);
    });
  };

  return {
    modelPath,
    release: () => session.release(),
    async embed(texts) {
      // One text per forward pass: no padding, so a text's vector is bit-for-bit the same whatever
      // else is in the call (measured: batching 16 padded texts bought no speed on one thread).
      const out: number[][] = [];
      for (const text of texts) {
        const [vector] = await run([text.length === 0 ? [CLS, SEP] : tokenize(text)]);
        out.push(vector!);
      }
      return out;
    },
  };
}
