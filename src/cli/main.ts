#!/usr/bin/env node
import { fail } from './common.js';
import { buildProgram, CommanderError, exitCodeOf } from './program.js';

try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  // commander has already printed the reason and the hint.
  if (error instanceof CommanderError) process.exit(exitCodeOf(error));
  fail(error);
}
