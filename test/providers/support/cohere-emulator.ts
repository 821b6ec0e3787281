/**
 * A local server speaking Cohere's v2 embed API (https://docs.cohere.com/reference/embed) as strictly
 * as Cohere: `POST /v2/embed` with `model`, `texts`, a required `input_type` and `embedding_types`;
 * `{embeddings: {float: [[…]]}}` answers; `{message}` errors with the messages Cohere documents
 * (https://docs.cohere.com/reference/errors):
 * - more than 96 texts: 400 "invalid request: total number of texts must be at most 96 - received N";
 * - an empty text: 400 "invalid request: inputs contains an element that is the empty string at index I";
 * - no `input_type`: 400 "invalid request: valid input_type must be provided with the provided model";
 * - no `embedding_types`: 400 "embedding_types parameter is required";
 * - a wrong key: 401 "invalid api token";
 * - while `rateLimitNext` is above 0: 429 "You are past the per minute request limit, please wait and
 *   try again later." with no headers at all (Cohere documents none).
 * Vectors are the hash provider's vectors of each text, so a test can check every stored embedding.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hashEmbedding } from '../../../src/providers/hash.js';

export const COHERE_EMULATOR_KEY = 'co-emulator-test-key-0123456789abcdef';
/** The hash provider's model name the vectors are made with. */
export const COHERE_EMULATOR_VECTORS = 'hash-v1';
export const COHERE_MAX_TEXTS = 96;

const MODELS: Readonly<Record<string, { dimensions: number; flexible: readonly number[] }>> = {
  'embed-v4.0': { dimensions: 1536, flexible: [256, 512, 1024, 1536] },
  'embed-english-v3.0': { dimensions: 1024, flexible: [] },
};

export interface CohereEmulator {
  /** Base URL as a pipeline's `baseUrl` takes it (the provider appends /v2/embed). */
  baseUrl: string;
  /** Every request, in order: its number of texts and the status answered. */
  log: { texts: number; status: number; message?: string }[];
  /** Requests answered with 400 or 401. */
  readonly refused: number;
  /** Answer this many of the next requests with a header-less 429. */
  rateLimitNext: number;
  close(): Promise<void>;
}

export async function startCohereEmulator(): Promise<CohereEmulator> {
  const log: CohereEmulator['log'] = [];
  let refused = 0;
  const state = { rateLimitNext: 0 };
  const server: Server = createServer(async (req, res) => {
    const parts: Buffer[] = [];
    for await (const part of req) parts.push(part as Buffer);
    const entry: CohereEmulator['log'][number] = { texts: 0, status: 200 };
    log.push(entry);
    const send = (status: number, body: unknown) => {
      entry.status = status;
      if (status !== 200) entry.message = (body as { message: string }).message;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const refuse = (status: number, message: string) => {
      refused++;
      send(status, { id: 'b7c1a0de-0000-4000-8000-000000000000', message });
    };
    if (req.method !== 'POST' || req.url !== '/v2/embed') return send(404, { message: '404 page not found' });
    if (req.headers.authorization !== `Bearer ${COHERE_EMULATOR_KEY}`)
      return refuse(401, 'invalid api token');
    if (state.rateLimitNext > 0) {
      state.rateLimitNext--;
      return send(429, {
        id: 'b7c1a0de-0000-4000-8000-000000000001',
        message: 'You are past the per minute request limit, please wait and try again later.',
      });
    }
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(Buffer.concat(parts).toString('utf8'));
    } catch {
      return refuse(400, 'invalid json syntax');
    }
    const model = typeof body.model === 'string' ? body.model : '';
    const info = Object.hasOwn(MODELS, model) ? MODELS[model] : undefined;
    if (!info) {
      return send(404, {
        message: `model '${model}' not found, make sure the correct model ID was used and that you have access to the model.`,
      });
    }
    const texts = Array.isArray(body.texts) ? (body.texts as unknown[]) : [];
    entry.texts = texts.length;
    if (texts.length > COHERE_MAX_TEXTS) {
      return refuse(
        400,
        `invalid request: total number of texts must be at most ${COHERE_MAX_TEXTS} - received ${texts.length}`,
      );
    }
    const empty = texts.findIndex((text) => typeof text !== 'string' || text === '');
    if (empty >= 0) {
      return refuse(
        400,
        `invalid request: inputs contains an element that is the empty string at index ${empty}`,
      );
    }
    if (typeof body.input_type !== 'string') {
      return refuse(400, 'invalid request: valid input_type must be provided with the provided model');
    }
    if (!Array.isArray(body.embedding_types)) return refuse(400, 'embedding_types parameter is required');
    const asked = body.output_dimension;
    const dimensions = typeof asked === 'number' && info.flexible.includes(asked) ? asked : info.dimensions;
    send(200, {
      id: 'b6a6e1a4-5c2e-4f0e-a7e2-1f9d6f3a2c11',
      embeddings: {
        float: (texts as string[]).map((text) => hashEmbedding(text, dimensions, COHERE_EMULATOR_VECTORS)),
      },
      texts,
      meta: { api_version: { version: '2' }, billed_units: { input_tokens: texts.length } },
      response_type: 'embeddings_by_type',
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    log,
    get refused() {
      return refused;
    },
    get rateLimitNext() {
      return state.rateLimitNext;
    },
    set rateLimitNext(value: number) {
      state.rateLimitNext = value;
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
