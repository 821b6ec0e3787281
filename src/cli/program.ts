import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { USAGE_EXIT_CODE } from './common.js';
import { registerDemo } from './demo.js';
import { registerDisable } from './disable.js';
import { registerDoctor } from './doctor.js';
import { registerEnable } from './enable.js';
import { registerInit } from './init.js';
import { registerRecall } from './recall.js';
import { registerReindex } from './reindex.js';
import { registerSearch } from './search.js';
import { registerStatus } from './status.js';
import { registerWorker } from './worker.js';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/**
 * The `pgembed` program. Parse errors (unknown option, invalid value, missing argument) throw a
 * CommanderError instead of exiting, so one place turns them into exit status 2 (see
 * {@link exitCodeOf}), and tests can enumerate the commands and options.
 */
export function buildProgram(): Command {
  const program = new Command()
    .name('pgembed')
    .description('Turn any PostgreSQL table into a continuously maintained, searchable embedding corpus.')
    .version(version)
    // Before the commands are added: they inherit these.
    .exitOverride()
    // One line of reason, whatever commander adds (its "(Did you mean …?)" comes on a line of its own).
    .configureOutput({ outputError: (text, write) => write(`${text.trimEnd().replace(/\s*\n\s*/g, ' ')}\n`) })
    .showHelpAfterError('hint: `pgembed --help` lists the commands')
    .addHelpText(
      'after',
      `
Without --database-url or DATABASE_URL, pgembed uses an embedded PostgreSQL in ./.pgembed/.
Only \`init\` and \`enable\` install or upgrade the pgembed schema: run them as the database owner.
\`worker\`, \`status\`, \`search\`, \`disable\`, \`recall\` and \`reindex\` never change it, and refuse a
schema that is missing, older or newer than this pgembed (\`doctor\` reports which).
Exit status: 0 success; 1 error, with one line of reason and one of hint; 2 invalid usage (an
unknown option or a bad value), with the same two lines.

Examples:
  $ pgembed demo
  $ pgembed init && pgembed enable articles --column body && pgembed worker
  $ pgembed search "how do refunds work" --table articles`,
    );

  registerInit(program);
  registerEnable(program);
  registerDisable(program);
  registerWorker(program);
  registerStatus(program);
  registerSearch(program);
  registerRecall(program);
  registerReindex(program);
  registerDemo(program);
  registerDoctor(program);

  for (const command of program.commands) {
    command.showHelpAfterError(`hint: \`pgembed ${command.name()} --help\` lists its options and examples`);
  }
  return program;
}

/** Exit status for what parsing threw: 0 after --help or --version, 2 for any usage error. */
export function exitCodeOf(error: CommanderError): number {
  return error.exitCode === 0 ? 0 : USAGE_EXIT_CODE;
}

export { CommanderError };
