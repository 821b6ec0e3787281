import type { Command } from 'commander';
import { installedVersion, migrate } from '../db/migrate.js';
import { type GlobalOptions, output, withDatabase, withDatabaseOptions } from './common.js';

export function registerInit(program: Command): void {
  withDatabaseOptions(
    program
      .command('init')
      .description('install or upgrade the pgembed schema (idempotent; run it as the database owner)')
      .addHelpText(
        'after',
        `
Installing or upgrading needs CREATE on the database; once the schema is current, init only reads
pgembed.migrations. It refuses (SCHEMA_TOO_NEW) a schema upgraded by a newer pgembed. Workers never
install or upgrade the schema: run init with each new pgembed version before starting its workers.

Examples:
  $ pgembed init
  $ pgembed init --database-url postgres://owner@localhost/app`,
      ),
  ).action(async (options: GlobalOptions) => {
    // 'none': migrate() below is the whole command.
    await withDatabase(options, 'none', async (db) => {
      const applied = await migrate(db);
      const version = await installedVersion(db);
      output(options, { applied, version }, () =>
        applied.length
          ? `pgembed schema installed (migrations ${applied.join(', ')}; version ${version})`
          : `pgembed schema already up to date (version ${version})`,
      );
    });
  });
}
