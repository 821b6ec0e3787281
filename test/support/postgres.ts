/**
 * A throw-away PostgreSQL 15 + pgvector cluster for tests and benchmarks: its own data directory in a
 * temp dir, listening on a private unix socket only, stopped and deleted by `stop()`.
 *
 * Set `PGEMBED_TEST_DATABASE_URL` to use an existing server instead (it needs the `vector` extension
 * available and a role allowed to `CREATE DATABASE`).
 *
 * @example
 * ```ts
 * const cluster = await startCluster();
 * const db = await createTestDatabase(cluster.adminUrl, 'example');
 * const client = new pg.Client({ connectionString: db.url });
 * await client.connect();
 * await client.query(`SELECT '[1,2]'::vector <=> '[2,1]'::vector AS d`);
 * await client.end();
 * await db.drop();
 * await cluster.stop();
 * ```
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { appendFile, chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

export interface ClusterOptions {
  /**
   * Keep fsync, synchronous_commit and full_page_writes on. Off by default: tests never survive a
   * power cut, and durability makes each commit wait for the disk. Benchmarks and crash-recovery
   * tests that measure or rely on real commits turn it on.
   */
  durable?: boolean;
  /** Extra `postgresql.conf` settings, e.g. `{ log_min_messages: 'debug1' }`. Applied last. */
  settings?: Readonly<Record<string, string | number | boolean>>;
  /** Directory holding `initdb`, `pg_ctl` and `postgres`. Default `/usr/lib/postgresql/15/bin`. */
  binDir?: string;
  /** Ignore `PGEMBED_TEST_DATABASE_URL` and always start a private cluster (e.g. to restart it). */
  ignoreExternal?: boolean;
}

export interface Cluster {
  /** node-postgres / libpq connection string for the `postgres` superuser on the `postgres` database. */
  readonly adminUrl: string;
  /** Directory of the unix socket; `null` for an external server reached over TCP. */
  readonly socketDir: string | null;
  readonly port: number;
  /** `null` for an external server. */
  readonly dataDir: string | null;
  /** True when `PGEMBED_TEST_DATABASE_URL` was used: `stop()` leaves it running, `restart()` throws. */
  readonly external: boolean;
  /** `pg_ctl stop -m fast`, then deletes the temp dir. Safe to call twice. */
  stop(): Promise<void>;
  /**
   * Stops and starts the server. `immediate` is a crash (no checkpoint; the next start replays WAL),
   * `fast` a clean shutdown. Open connections are cut either way.
   */
  restart(mode: 'fast' | 'immediate'): Promise<void>;
}

export interface TestDatabase {
  /** Connection string for the new database (same server and role as the admin URL). */
  readonly url: string;
  readonly name: string;
  /** `DROP DATABASE … WITH (FORCE)`, which also disconnects its sessions. Safe to call twice. */
  drop(): Promise<void>;
}

const DEFAULT_BIN_DIR = '/usr/lib/postgresql/15/bin';
const SETUP_SCRIPT = fileURLToPath(new URL('../../scripts/setup-postgres.sh', import.meta.url));
/** pg_ctl's own default; a cold initdb + start takes ~1 s here, a crash recovery a little more. */
const PG_CTL_TIMEOUT_SECONDS = 60;
/** Ports are only names here (the socket dir is private), so a clash is near impossible; but cheap. */
const START_ATTEMPTS = 5;

/**
 * Starts a private cluster, or wraps `PGEMBED_TEST_DATABASE_URL` when it is set. Installs PostgreSQL
 * and pgvector with `scripts/setup-postgres.sh` first when they are missing (which needs root).
 */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const externalUrl = process.env.PGEMBED_TEST_DATABASE_URL;
  if (externalUrl && !options.ignoreExternal) {
    // Fail here, once, with a clear message, rather than in every test that creates a database.
    const { rows } = await withClient(externalUrl, (client) =>
      client.query(`SELECT 1 FROM pg_available_extensions WHERE name = 'vector'`),
    ).catch((error: unknown) => {
      throw new Error(`PGEMBED_TEST_DATABASE_URL: cannot connect (${String(error)})`, { cause: error });
    });
    if (rows.length === 0) {
      throw new Error('PGEMBED_TEST_DATABASE_URL: that server has no pgvector installed');
    }
    return externalCluster(externalUrl);
  }

  const binDir = options.binDir ?? DEFAULT_BIN_DIR;
  await ensureInstalled(binDir);

  const asPostgres = process.getuid?.() === 0 ? postgresUser() : null;
  const root = await mkdtemp(join(tmpdir(), 'pgembed-pg-'));
  const dataDir = join(root, 'data');
  // The socket lives in `root` itself: a unix socket path must stay under 108 bytes.
  const socketDir = root;
  const logFile = join(root, 'postgres.log');
  const run = commandRunner(binDir, root, asPostgres);

  // Locale C: the same collation on every machine, so ORDER BY on text never differs between runs.
  const initdbArgs = [`--pgdata=${dataDir}`, '--auth=trust', '--username=postgres', '--no-sync'];
  initdbArgs.push('--encoding=UTF8', '--locale=C');
  try {
    if (asPostgres) await chown(root, asPostgres.uid, asPostgres.gid);
    await run('initdb', initdbArgs);
  } catch (error) {
    await rm(root, { recursive: true, force: true });
    throw error;
  }

  // Settings go into postgresql.conf (later lines win) rather than onto the command line, so that
  // `pg_ctl start` after a restart uses exactly the same ones and nothing needs shell quoting.
  const settings: Record<string, string | number | boolean> = {
    listen_addresses: '',
    unix_socket_directories: socketDir,
    max_connections: 200,
    ...(options.durable ? {} : { fsync: false, synchronous_commit: false, full_page_writes: false }),
    ...options.settings,
  };
  const conf = join(dataDir, 'postgresql.conf');
  await appendFile(conf, `\n# pgembed test cluster\n${confLines(settings)}`);

  const pgCtl = (...args: string[]) =>
    run('pg_ctl', [...args, '-w', '-t', String(PG_CTL_TIMEOUT_SECONDS), '-D', dataDir]);
  const start = () => pgCtl('start', '-l', logFile);
  let port = 0;
  for (let attempt = 1; ; attempt++) {
    port = 54000 + randomInt(0, 10000);
    // A retry appends another `port` line; the last one wins.
    await appendFile(conf, `port = ${port}\n`);
    try {
      await start();
      break;
    } catch (error) {
      const log = await readLogTail(logFile);
      const clash = /could not create lock file|already in use/i.test(log);
      if (!clash || attempt >= START_ATTEMPTS) {
        // pg_ctl -w may have given up on a server that is still starting: make sure it is gone.
        await pgCtl('stop', '-m', 'immediate').catch(() => undefined);
        await rm(root, { recursive: true, force: true });
        throw new Error(`PostgreSQL test cluster did not start; its log ends with:\n${log}`, {
          cause: error,
        });
      }
    }
  }

  const stopSync = () => {
    // Last resort when the process exits without calling stop() (a crashed test run): leave no
    // server behind. Synchronous because 'exit' handlers cannot await.
    try {
      execFileSync(...wrap(asPostgres, join(binDir, 'pg_ctl'), ['stop', '-m', 'immediate', '-D', dataDir]), {
        cwd: root,
        stdio: 'ignore',
      });
    } catch {
      // Already stopped.
    }
    rmSync(root, { recursive: true, force: true });
  };
  process.once('exit', stopSync);

  let stopping: Promise<void> | undefined;
  return {
    adminUrl: socketUrl(socketDir, port, 'postgres'),
    socketDir,
    port,
    dataDir,
    external: false,
    stop() {
      stopping ??= (async () => {
        process.removeListener('exit', stopSync);
        try {
          await pgCtl('stop', '-m', 'fast');
        } finally {
          await rm(root, { recursive: true, force: true });
        }
      })();
      return stopping;
    },
    async restart(mode) {
      if (stopping) throw new Error('restart() called on a stopped cluster');
      await pgCtl('stop', '-m', mode);
      await start();
    },
  };
}

/**
 * Creates a uniquely named database (from `template0`, so nothing another test put into `template1`
 * leaks in) with the `vector` extension installed.
 */
export async function createTestDatabase(adminUrl: string, prefix: string): Promise<TestDatabase> {
  const stem = prefix
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .slice(0, 40);
  const name = `${stem}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  await withClient(adminUrl, (client) =>
    client.query(`CREATE DATABASE ${quoteIdent(name)} TEMPLATE template0`),
  );
  const url = withDatabase(adminUrl, name);
  try {
    await withClient(url, (client) => client.query('CREATE EXTENSION vector'));
  } catch (error) {
    await withClient(adminUrl, (client) => client.query(`DROP DATABASE ${quoteIdent(name)} WITH (FORCE)`));
    throw error;
  }

  let dropping: Promise<void> | undefined;
  return {
    url,
    name,
    drop() {
      dropping ??= withClient(adminUrl, async (client) => {
        await client.query(`DROP DATABASE IF EXISTS ${quoteIdent(name)} WITH (FORCE)`);
      });
      return dropping;
    },
  };
}

/** `postgresql://postgres@/db?host=/tmp/…&port=…`: the form both libpq and node-postgres accept. */
function socketUrl(socketDir: string, port: number, database: string): string {
  return `postgresql://postgres@/${encodeURIComponent(database)}?host=${encodeURIComponent(socketDir).replaceAll('%2F', '/')}&port=${port}`;
}

/** Replaces the database (the URL path) of a connection string, keeping host, user and options. */
function withDatabase(url: string, database: string): string {
  const match = /^(postgres(?:ql)?:\/\/[^/?#]*)(\/[^?#]*)?(.*)$/.exec(url);
  if (!match) throw new Error('expected a postgres:// or postgresql:// connection string');
  return `${match[1]}/${encodeURIComponent(database)}${match[3]}`;
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function externalCluster(url: string): Cluster {
  const { port, host } = describeUrl(url);
  return {
    adminUrl: url,
    socketDir: host?.startsWith('/') ? host : null,
    port,
    dataDir: null,
    external: true,
    async stop() {
      // Not ours to stop.
    },
    async restart() {
      throw new Error(
        'restart() needs a private cluster; PGEMBED_TEST_DATABASE_URL points at an external server (pass ignoreExternal: true)',
      );
    },
  };
}

function describeUrl(url: string): { host: string | undefined; port: number } {
  const query = url.includes('?') ? new URLSearchParams(url.slice(url.indexOf('?') + 1)) : undefined;
  const authority = /^postgres(?:ql)?:\/\/(?:[^@/?#]*@)?([^/?#]*)/.exec(url)?.[1] ?? '';
  const hostPort = /^(.*?)(?::(\d+))?$/.exec(authority);
  const host = query?.get('host') ?? (hostPort?.[1] ? decodeURIComponent(hostPort[1]) : undefined);
  const port = Number(query?.get('port') ?? hostPort?.[2] ?? 5432);
  return { host, port };
}

function confLines(settings: Record<string, string | number | boolean>): string {
  return Object.entries(settings)
    .map(([key, value]) => {
      const text = typeof value === 'boolean' ? (value ? 'on' : 'off') : String(value);
      return `${key} = '${text.replaceAll("'", "''")}'\n`;
    })
    .join('');
}

interface OsUser {
  uid: number;
  gid: number;
}

/** PostgreSQL refuses to run as root, so as root we run it as the `postgres` account packages create. */
function postgresUser(): OsUser {
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    return { uid, gid };
  } catch (error) {
    throw new Error(
      'running as root, but there is no "postgres" OS user to run the server as; run scripts/setup-postgres.sh',
      { cause: error },
    );
  }
}

function wrap(asUser: OsUser | null, command: string, args: string[]): [string, string[]] {
  return asUser ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
}

function commandRunner(binDir: string, cwd: string, asUser: OsUser | null) {
  return (tool: 'initdb' | 'pg_ctl', args: string[]) =>
    new Promise<string>((resolve, reject) => {
      const [command, argv] = wrap(asUser, join(binDir, tool), args);
      // cwd is the temp dir: the postgres user may not be allowed into the caller's directory.
      // pg_ctl start leaves the postmaster holding no pipe of ours (its output goes to the log file),
      // so execFile returns as soon as pg_ctl does.
      execFile(command, argv, { cwd, encoding: 'utf8' }, (error, stdout, stderr) => {
        if (error)
          reject(new Error(`${tool} ${args[0]} failed: ${stderr.trim() || stdout.trim()}`, { cause: error }));
        else resolve(stdout);
      });
    });
}

async function readLogTail(logFile: string): Promise<string> {
  try {
    return (await readFile(logFile, 'utf8')).split('\n').slice(-20).join('\n');
  } catch {
    return '(no log file)';
  }
}

async function ensureInstalled(binDir: string): Promise<void> {
  if (await isInstalled(binDir)) return;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `PostgreSQL 15 with pgvector is not installed (looked in ${binDir}); run: sudo bash scripts/setup-postgres.sh`,
    );
  }
  await new Promise<void>((resolve, reject) => {
    // Its progress goes to our stderr: an install takes ~30 s and should not look like a hang.
    const child = spawn('bash', [SETUP_SCRIPT], { stdio: ['ignore', process.stderr, process.stderr] });
    child.once('error', reject);
    child.once('exit', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`scripts/setup-postgres.sh exited with ${code}; run it by hand`)),
    );
  });
  if (!(await isInstalled(binDir))) {
    throw new Error(
      `scripts/setup-postgres.sh finished, but PostgreSQL 15 or pgvector is still missing in ${binDir}`,
    );
  }
}

async function isInstalled(binDir: string): Promise<boolean> {
  if (!['initdb', 'pg_ctl', 'postgres', 'pg_config'].every((tool) => existsSync(join(binDir, tool))))
    return false;
  const sharedir = await new Promise<string | null>((resolve) =>
    execFile(join(binDir, 'pg_config'), ['--sharedir'], { encoding: 'utf8' }, (error, stdout) =>
      resolve(error ? null : stdout.trim()),
    ),
  );
  return sharedir !== null && existsSync(join(sharedir, 'extension', 'vector.control'));
}
