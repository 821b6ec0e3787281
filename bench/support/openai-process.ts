/**
 * The OpenAI emulator (test/support/openai-emulator.ts) in a process of its own, so that the two
 * sides of a comparison talk to the very same server and neither pays its CPU in its own process.
 * Prints the base URL on its first line; stops on SIGTERM.
 *
 *   node --import tsx bench/support/openai-process.ts
 */
import { startOpenAIEmulator } from '../../test/support/openai-emulator.js';

const emulator = await startOpenAIEmulator();
process.stdout.write(`${emulator.baseUrl}\n`);
process.once('SIGTERM', async () => {
  await emulator.close();
  process.exit(0);
});
