import { PgembedError } from '../errors.js';
import {
  badResponse,
  DEFAULT_TIMEOUT_MS,
  describeUrl,
  type HttpProviderDeps,
  httpEmbeddingProvider,
  isRecord,
  parseJson,
  readApiKey,
  toVector,
} from './http.js';
import type { RateLimits } from './limiter.js';
import { estimatedCounter } from './tokens.js';
import type { EmbeddingProvider } from './types.js';

export const OLLAMA_DEFAULT_BASE_URL = 'http://localhost:11434';
/**
 * Inputs per request. Ollama has no limit of its own; 256 keeps one request of 512-token chunks
 * around 10 s on a CPU-only server, inside the 60 s timeout we give local models.
 */
const OLLAMA_MAX_BATCH_SIZE = 256;
/** Local models on CPU are slow to load and to answer: 60 s. */
const OLLAMA_DEFAULT_TIMEOUT_MS = 2 * DEFAULT_TIMEOUT_MS;

/** Embedding models in Ollama's library: dimensions and context (tokens). */
export const OLLAMA_MODELS: Readonly<Record<string, { dimensions: number; maxInputTokens: number }>> = {
  'nomic-embed-text': { dimensions: 768, maxInputTokens: 8192 },
  'mxbai-embed-large': { dimensions: 1024, maxInputTokens: 512 },
  'all-minilm': { dimensions: 384, maxInputTokens: 256 },
  'snowflake-arctic-embed': { dimensions: 1024, maxInputTokens: 512 },
  'bge-m3': { dimensions: 1024, maxInputTokens: 8192 },
};

export interface OllamaProviderOptions extends RateLimits {
  model: string;
  dimensions?: number | undefined;
  /** Default `http://localhost:11434`. */
  baseUrl?: string | undefined;
  /** Only for an Ollama behind an authenticating proxy: sent as a Bearer token. */
  apiKeyEnv?: string | undefined;
  /** How long Ollama keeps the model in memory after a request. Default "5m" (Ollama's own). */
  keepAlive?: string | undefined;
  timeoutMs?: number | undefined;
}

export function ollamaModelInfo(model: string): { dimensions: number; maxInputTokens: number } | undefined {
  const base = model.replace(/:latest$/, '');
  return Object.hasOwn(OLLAMA_MODELS, base) ? OLLAMA_MODELS[base] : undefined;
}

/**
 * `ollama` provider: `POST {baseUrl}/api/embed` with an array `input` (the batch endpoint, not the
 * legacy one-text `/api/embeddings`), `truncate: false` so an over-long input is an error rather
 * than silently cut, and `keep_alive`. A model that is not pulled is a configuration error telling
 * you to run `ollama pull <model>`.
 *
 * @example
 * ```ts
 * const provider = createOllamaProvider({ model: 'nomic-embed-text' });
 * const [vector] = await provider.embed(['hello'], { inputType: 'document' }); // 768 numbers
 * ```
 */
export function createOllamaProvider(
  options: OllamaProviderOptions,
  deps: HttpProviderDeps = {},
): EmbeddingProvider {
  const { model } = options;
  const baseUrl = (options.baseUrl ?? OLLAMA_DEFAULT_BASE_URL).replace(/\/+$/, '');
  const url = `${baseUrl}/api/embed`;
  const where = describeUrl('the Ollama server', baseUrl);
  const apiKey = options.apiKeyEnv ? readApiKey(deps.env ?? process.env, options.apiKeyEnv) : undefined;
  const info = ollamaModelInfo(model);
  if (options.keepAlive !== undefined && !/^(-1|0|\d+(\.\d+)?(ms|s|m|h)?)$/.test(options.keepAlive)) {
    throw new PgembedError('CONFIG_INVALID', 'keepAlive must be a duration such as "5m", "1h", "0" or "-1"', {
      kind: 'configuration',
    });
  }
  const headers: Record<string, string> = apiKey ? { authorization: `Bearer ${apiKey}` } : {};
  return httpEmbeddingProvider({
    name: 'ollama',
    model,
    dimensions: options.dimensions ?? info?.dimensions,
    maxBatchSize: OLLAMA_MAX_BATCH_SIZE,
    maxInputTokens: info?.maxInputTokens ?? 2048,
    counter: estimatedCounter(),
    endpoint: baseUrl,
    limits: options,
    timeoutMs: options.timeoutMs ?? OLLAMA_DEFAULT_TIMEOUT_MS,
    apiKey,
    where,
    deps,
    request: (texts) => ({
      url,
      headers,
      body: {
        model,
        input: texts,
        truncate: false,
        ...(options.keepAlive === undefined ? {} : { keep_alive: options.keepAlive }),
      },
      ctx: {
        where,
        model,
        apiKeyEnv: options.apiKeyEnv,
        notFound: `${where} does not have model "${model}"; run \`ollama pull ${model}\` on that server`,
        classify: (status, error) =>
          status === 400 && /context length|too long|exceeds/i.test(error.message)
            ? {
                code: 'INPUT_TOO_LONG',
                kind: 'permanent',
                message: `${where}: an input exceeds ${model}'s context (HTTP 400: ${error.message}); lower chunk_size`,
              }
            : status === 400 && /not found|pull/i.test(error.message)
              ? {
                  code: 'PROVIDER_CONFIG',
                  kind: 'configuration',
                  message: `${where} does not have model "${model}"; run \`ollama pull ${model}\` (HTTP 400: ${error.message})`,
                }
              : undefined,
      },
    }),
    parse: (text, inputs) => {
      const parsed = parseJson(text, where);
      const embeddings = isRecord(parsed) ? parsed.embeddings : undefined;
      if (!Array.isArray(embeddings))
        throw badResponse(`${where} returned JSON without an "embeddings" array`);
      if (embeddings.length !== inputs) {
        throw badResponse(`${where} returned ${embeddings.length} embeddings for ${inputs} inputs`);
      }
      return embeddings.map((raw) => {
        const vector = toVector(raw);
        if (!vector || typeof raw === 'string')
          throw badResponse(`${where} returned an embedding that is not a list of numbers`);
        return vector;
      });
    },
  });
}
