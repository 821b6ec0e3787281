import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { connect, DEFAULT_DATA_DIR } from '../db/connect.js';
import { checkSchema, migrate } from '../db/migrate.js';
import type { Database } from '../db/types.js';
import { isPgembedError, PgembedError } from '../errors.js';

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

/**
 * What a command does with the pgembed schema when it opens the database:
 * - `migrate`: installs or upgrades it (`init`, `enable`: commands for the database owner);
 * - `check`: changes nothing and refuses a schema that is missing, older or newer than this
 *   pgembed (`worker`, `status`, `search`, `disable`, `recall`, `reindex`), so a least-privilege
 *   role can run them and a worker never sits idle on a database nobody initialised;
 * - `none`: leaves it to the command (`doctor` reports the version).
 */
export type SchemaPolicy = 'migrate' | 'check' | 'none';

export async function openDatabase(options: GlobalOptions, schema: SchemaPolicy): Promise<Database> {
  if (schema === 'check') refuseMissingEmbedded(options);
  const db = await connect({ databaseUrl: options.databaseUrl, dataDir: options.dataDir });
  try {
    if (schema === 'migrate') await migrate(db);
    else if (schema === 'check') await checkSchema(db);
  } catch (error) {
    await db.close();
    throw error;
  }
  return db;
}

/**
 * Commands that need an installed schema refuse an embedded database that does not exist yet:
 * opening it would create an empty one just to report that it is empty.
 */
export function refuseMissingEmbedded(options: GlobalOptions): void {
  const dataDir = options.dataDir ?? DEFAULT_DATA_DIR;
  if (options.databaseUrl ?? process.env.DATABASE_URL) return;
  if (dataDir === 'memory://' || existsSync(resolve(dataDir))) return;
  throw new PgembedError(
    'SCHEMA_NOT_INSTALLED',
    `no embedded database in ${dataDir}: run \`pgembed init\` first, or give --database-url`,
  );
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
  '42501':
    '`pgembed init`, `enable` and `disable` need the database owner; workers need a role in pgembed_worker (SELECT pgembed.grant_worker_role())',
  PIPELINE_NOT_FOUND: 'list pipelines with `pgembed status`',
  SCHEMA_NOT_INSTALLED:
    'the database owner runs `pgembed init` once; workers, search and status never install the schema',
  SCHEMA_OUTDATED: 'the database owner runs `pgembed init` to upgrade it; workers never change the schema',
  SCHEMA_TOO_NEW: 'a newer pgembed upgraded this database: install that version here too',
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
  schema: SchemaPolicy,
  body: (db: Database) => Promise<void>,
): Promise<void> {
  let db: Database | undefined;
  try {
    db = await openDatabase(options, schema);
    await body(db);
  } catch (error) {
    await db?.close().catch(() => {});
    fail(error, options.json);
  }
  await db.close();
}

/** Exit status of a usage error (an invalid option or argument), as getopt-style tools use. */
export const USAGE_EXIT_CODE = 2;

/** A parser's accepted range, kept on the parser so tests can enumerate every numeric option. */
export interface NumberRange {
  min: number;
  max: number;
  /** `min` and `max` themselves are excluded (a percentile strictly between 0 and 100). */
  exclusive?: 'min' | 'both';
  integer: boolean;
}

export type NumberParser = ((value: string) => number) & { readonly range: NumberRange };

/**
 * Option parser for integers in [min, max]. Only plain decimal digits count: `Number()` alone
 * would take '', '1e3' and '0x10'. Throws commander's InvalidArgumentError, which commander
 * reports as a usage error (one line, exit status 2) instead of an uncaught exception.
 */
export function parseInteger(name: string, min: number, max: number): NumberParser {
  const parse = (value: string): number => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be an integer between ${min} and ${max}.`);
    }
    return n;
  };
  return Object.assign(parse, { range: { min, max, integer: true } });
}

/** Option parser for decimal numbers in a range (`exclusive` drops the bounds named). */
export function parseNumber(
  name: string,
  min: number,
  max: number,
  exclusive?: NumberRange['exclusive'],
): NumberParser {
  const low = exclusive ? 'greater than' : 'at least';
  const high = exclusive === 'both' ? 'less than' : 'at most';
  const parse = (value: string): number => {
    const n = Number(value);
    const ok =
      /^-?(\d+\.?\d*|\.\d+)$/.test(value.trim()) &&
      (exclusive ? n > min : n >= min) &&
      (exclusive === 'both' ? n < max : n <= max);
    if (!ok) throw new InvalidArgumentError(`${name} must be a number ${low} ${min} and ${high} ${max}.`);
    return n;
  };
  return Object.assign(parse, { range: { min, max, integer: false, ...(exclusive ? { exclusive } : {}) } });
}

/** Reports a usage error found after parsing (e.g. a missing choice between two options): exit status 2. */
export function usageError(command: Command, message: string): never {
  // Prints the line and the command's hint, then throws under exitOverride (see program.ts).
  return command.error(`error: ${message}`, { exitCode: USAGE_EXIT_CODE, code: 'pgembed.usage' });
}
