/**
 * The OpenAI emulator says no where OpenAI does, with OpenAI's own error bodies: worker and CLI tests
 * that pass against it pass against a server that enforces the documented limits (2,048 inputs,
 * 8,192 tokens per input, 300,000 tokens per request, no empty strings, no `dimensions` for
 * text-embedding-ada-002), counted in cl100k_base as OpenAI counts them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tiktokenTokenizer } from '../../src/chunking/tokenizers.js';
import { createOpenAIProvider } from '../../src/providers/openai.js';
import {
  EMULATOR_KEY,
  OPENAI_LIMITS,
  type OpenAIEmulator,
  startOpenAIEmulator,
} from '../support/openai-emulator.js';

const cl100k = tiktokenTokenizer('cl100k_base');
const INVALID_INPUT =
  "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.";

let emulator: OpenAIEmulator;
beforeAll(async () => {
  emulator = await startOpenAIEmulator();
});
afterAll(async () => {
  await emulator.close();
});

async function post(body: Record<string, unknown>): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${emulator.baseUrl}/embeddings`, {
    method: 'POST',
    headers: { authorization: `Bearer ${EMULATOR_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'text-embedding-3-small', encoding_format: 'float', ...body }),
  });
  return { status: response.status, body: await response.json() };
}

const openaiError = (message: string, type = 'invalid_request_error', code: string | null = null) => ({
  error: { message, type, param: null, code },
});

/** `n` cl100k tokens exactly: " a" is one token, and so is a leading "a". */
function textOfTokens(n: number): string {
  const text = `a${' a'.repeat(n - 1)}`;
  expect(cl100k.count(text)).toBe(n);
  return text;
}

describe('OpenAI emulator: the documented limits, with OpenAI’s 400 bodies', () => {
  it('accepts what OpenAI accepts: 2,048 inputs, 8,192 tokens each, 300,000 together', async () => {
    const ok = await post({ input: Array.from({ length: 2048 }, (_, i) => `text ${i}`) });
    expect(ok.status).toBe(200);
    expect((ok.body as { data: unknown[] }).data).toHaveLength(2048);
    const long = textOfTokens(OPENAI_LIMITS.maxInputTokens);
    const full = await post({
      input: [...Array.from({ length: 36 }, () => long), textOfTokens(300_000 - 36 * 8192)],
    });
    expect(full.status).toBe(200);
    expect((full.body as { usage: { prompt_tokens: number } }).usage.prompt_tokens).toBe(300_000);
  });

  it('refuses an empty string anywhere in the input, and an empty input list', async () => {
    for (const input of [['a', ''], [''], []]) {
      expect(await post({ input })).toEqual({ status: 400, body: openaiError(INVALID_INPUT) });
    }
  });

  it('refuses more than 2,048 inputs', async () => {
    const input = Array.from({ length: 2049 }, (_, i) => `text ${i}`);
    expect(await post({ input })).toEqual({ status: 400, body: openaiError(INVALID_INPUT) });
  });

  it('refuses an input over 8,192 cl100k tokens, saying how many it got', async () => {
    // 8,193 tokens in 16,385 characters: a length/4 count (4,097) would have let it through.
    expect(await post({ input: ['short', textOfTokens(8193)] })).toEqual({
      status: 400,
      body: openaiError(
        "This model's maximum context length is 8192 tokens, however you requested 8193 tokens (8193 in your prompt; 0 for the completion). Please reduce your prompt; or completion length.",
      ),
    });
  });

  it('refuses more than 300,000 tokens in one request', async () => {
    const input = [
      ...Array.from({ length: 36 }, () => textOfTokens(8192)),
      textOfTokens(300_001 - 36 * 8192),
    ];
    expect(await post({ input })).toEqual({
      status: 400,
      body: openaiError(
        'Requested 300001 tokens, max 300000 tokens per request',
        'max_tokens_per_request',
        'max_tokens_per_request',
      ),
    });
  });

  it('refuses dimensions for text-embedding-ada-002, and models it does not serve', async () => {
    expect(await post({ model: 'text-embedding-ada-002', input: ['x'], dimensions: 1536 })).toEqual({
      status: 400,
      body: openaiError('This model does not support specifying dimensions.'),
    });
    const ada = await post({ model: 'text-embedding-ada-002', input: ['x'] });
    expect((ada.body as { data: { embedding: number[] }[] }).data[0]!.embedding).toHaveLength(1536);
    expect(await post({ model: 'text-embedding-4', input: ['x'] })).toEqual({
      status: 404,
      body: openaiError(
        'The model `text-embedding-4` does not exist or you do not have access to it.',
        'invalid_request_error',
        'model_not_found',
      ),
    });
  });

  it('pgembed’s openai provider sends ada-002 no dimensions, and reads a refusal as INPUT_REJECTED', async () => {
    const env = { env: { OPENAI_API_KEY: EMULATOR_KEY } };
    const ada = createOpenAIProvider(
      { model: 'text-embedding-ada-002', dimensions: 1536, baseUrl: emulator.baseUrl },
      env,
    );
    expect((await ada.embed(['x'], { inputType: 'document' }))[0]).toHaveLength(1536);
    const small = createOpenAIProvider(
      { model: 'text-embedding-3-small', dimensions: 16, baseUrl: emulator.baseUrl },
      env,
    );
    await expect(small.embed(['a', ''], { inputType: 'document' })).rejects.toMatchObject({
      code: 'PROVIDER_INPUT_REJECTED',
      kind: 'permanent',
      message: expect.stringContaining("'$.input' is invalid"),
    });
  });
});
