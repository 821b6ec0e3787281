import type { Command } from 'commander';
import { connect } from '../db/connect.js';
import { migrate } from '../db/migrate.js';
import type { Database } from '../db/types.js';
import { isPgembedError } from '../errors.js';

export interface GlobalOptions {
  databaseUrl?: string;
  dataDir?: string;
  json?: boolean;
}

/** Options every command takes. */
export function withDatabaseOptions(command: Command): Command {
  return command
    .option(
      '--database-url <url>',
      'PostgreSQL server URL (default: $DATABASE_URL, else the embedded database)',
    )
    .option('--data-dir <dir>', 'embedded database directory when no URL is given', '.pgembed')
    .option('--json', 'machine-readable output');
}

export async function openDatabase(options: GlobalOptions, { install = true } = {}): Promise<Database> {
  const db = await connect({ databaseUrl: options.databaseUrl, dataDir: options.dataDir });
  if (install) {
    try {
      await migrate(db);
    } catch (error) {
      await db.close();
      throw error;
    }
  }
  return db;
}

/** Prints `value` as JSON with --json, else the human text. */
export function output(options: GlobalOptions, value: unknown, human: () => string): void {
  process.stdout.write(options.json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
}

/** Hints for errors users commonly hit, keyed by PostgreSQL SQLSTATE or pgembed code. */
const HINTS: Record<string, string> = {
  ECONNREFUSED: 'is the server running, and is --database-url right?',
  '3D000': 'the database in --database-url does not exist; create it or fix the URL',
  '28P01': 'authentication failed: check the user and password in --database-url',
  '42P01': 'the table does not exist; check its name (schema-qualify it if needed)',
  '0A000': 'pgvector is missing on the server: install it (scripts/setup-postgres.sh does on Debian)',
  PIPELINE_NOT_FOUND: 'list pipelines with `pgembed status`',
  SCHEMA_NOT_INSTALLED: 'run `pgembed init` first',
};

/** One line of reason, one line of hint, exit status 1: what every command does on error. */
export function fail(error: unknown, json = false): never {
  const err = error as { message?: string; code?: string; hint?: string };
  const message = (err?.message ?? String(error)).split('\n')[0];
  const code = isPgembedError(error) ? error.code : err?.code;
  const hint =
    err?.hint ??
    (code ? HINTS[code] : undefined) ??
    (/vector/.test(message ?? '') ? HINTS['0A000'] : undefined);
  if (json) {
    process.stdout.write(
      `${JSON.stringify({ error: { message, code: code ?? null, hint: hint ?? null } })}\n`,
    );
  } else {
    process.stderr.write(`error: ${message}\n`);
    if (hint) process.stderr.write(`hint: ${hint}\n`);
  }
  process.exit(1);
}

/** Runs a command body with the database open, closing it and reporting errors the same way everywhere. */
export async function withDatabase<T extends GlobalOptions>(
  options: T,
  body: (db: Database) => Promise<void>,
  { install = true } = {},
): Promise<void> {
  let db: Database | undefined;
  try {
    db = await openDatabase(options, { install });
    await body(db);
  } catch (error) {
    await db?.close().catch(() => {});
    fail(error, options.json);
  }
  await db.close();
}

export function parseInteger(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new Error(`${name} must be an integer between ${min} and ${max} (got "${value}")`);
    }
    return n;
  };
}
