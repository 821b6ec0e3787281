import type { Command } from 'commander';
import { installedVersion, migrate } from '../db/migrate.js';
import { type GlobalOptions, output, withDatabase, withDatabaseOptions } from './common.js';

export function registerInit(program: Command): void {
  withDatabaseOptions(
    program
      .command('init')
      .description('install or upgrade the pgembed schema (idempotent)')
      .addHelpText(
        'after',
        '\nExamples:\n  $ pgembed init\n  $ pgembed init --database-url postgres://localhost/app',
      ),
  ).action(async (options: GlobalOptions) => {
    await withDatabase(
      options,
      async (db) => {
        const applied = await migrate(db);
        const version = await installedVersion(db);
        output(options, { applied, version }, () =>
          applied.length
            ? `pgembed schema installed (migrations ${applied.join(', ')}; version ${version})`
            : `pgembed schema already up to date (version ${version})`,
        );
      },
      { install: false },
    );
  });
}
