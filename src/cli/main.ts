#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
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

const program = new Command()
  .name('pgembed')
  .description('Turn any PostgreSQL table into a continuously maintained, searchable embedding corpus.')
  .version(version)
  .showHelpAfterError('(add --help for usage)')
  .addHelpText(
    'after',
    `
Without --database-url or DATABASE_URL, pgembed uses an embedded PostgreSQL in ./.pgembed/.
Only \`init\` and \`enable\` install or upgrade the pgembed schema: run them as the database owner.
\`worker\`, \`status\`, \`search\`, \`disable\`, \`recall\` and \`reindex\` never change it, and refuse a
schema that is missing, older or newer than this pgembed (\`doctor\` reports which).

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

await program.parseAsync(process.argv);
