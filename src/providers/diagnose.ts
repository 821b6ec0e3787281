/**
 * End-to-end checks of a pipeline's provider, shared by `pgembed doctor` (run by the user, from the
 * user's shell) and `pgembed.test_provider()` (answered by a live worker, from its environment).
 */
import type { Queryable } from '../db/types.js';
import { isPgembedError } from '../errors.js';
import type { Pipeline } from '../pipelines/pipeline.js';
import type { EmbeddingProvider } from './types.js';

export interface ProbeResult {
  ok: boolean;
  pipeline: string;
  provider: string;
  model: string;
  /** Length of the vector the provider returned; null when it failed. */
  dimensions: number | null;
  /** What the pipeline is configured for. */
  configured_dimensions: number;
  /** The chunk table's `embedding` column size (null when it could not be read). */
  column_dimensions: number | null;
  /** Whether the provider's vectors fit the pipeline (and its chunk table); null when it failed. */
  dimensions_match: boolean | null;
  latency_ms: number | null;
  worker_id: string | null;
  error?: string;
  code?: string | null;
}

/**
 * Embeds one probe text through `provider()` (which may itself throw, e.g. for a missing key) and
 * reports provider, model, dimensions, latency and whether the dimensions match the pipeline.
 * Never throws: failures are in the result, with the error's code and message.
 */
export async function probeProvider(
  db: Queryable,
  pipeline: Pipeline,
  provider: () => EmbeddingProvider,
  workerId: string | null,
  signal?: AbortSignal,
): Promise<ProbeResult> {
  const columnDimensions = await chunkColumnDimensions(db, pipeline.chunkTable).catch(() => null);
  const base = {
    pipeline: pipeline.name,
    provider: pipeline.provider,
    model: pipeline.model,
    configured_dimensions: pipeline.dimensions,
    column_dimensions: columnDimensions,
    worker_id: workerId,
  };
  const began = performance.now();
  try {
    const [vector] = await provider().embed(['pgembed provider test'], {
      inputType: 'document',
      ...(signal ? { signal } : {}),
    });
    const dimensions = vector?.length ?? 0;
    const match =
      dimensions === pipeline.dimensions && (columnDimensions === null || dimensions === columnDimensions);
    return {
      ok: match,
      ...base,
      dimensions,
      dimensions_match: match,
      latency_ms: Math.round(performance.now() - began),
      ...(match
        ? {}
        : {
            code: 'DIMENSION_MISMATCH',
            error: `the provider returns ${dimensions} dimensions but the pipeline holds ${pipeline.dimensions} (chunk column: ${columnDimensions ?? 'unknown'}); fix the model or the pipeline's dimensions`,
          }),
    };
  } catch (error) {
    return {
      ok: false,
      ...base,
      dimensions: null,
      dimensions_match: isPgembedError(error) && error.code === 'DIMENSION_MISMATCH' ? false : null,
      latency_ms: Math.round(performance.now() - began),
      code: isPgembedError(error) ? error.code : ((error as { code?: string })?.code ?? null),
      error: (error instanceof Error ? error.message : String(error)).slice(0, 2000),
    };
  }
}

/** The `vector(n)`/`halfvec(n)` size of a chunk table's embedding column, as the catalog has it. */
export async function chunkColumnDimensions(db: Queryable, chunkTable: string): Promise<number | null> {
  const { rows } = await db.query<{ dims: number | null }>(
    `SELECT CASE WHEN a.atttypmod > 0 THEN a.atttypmod END AS dims
     FROM pg_attribute a
     WHERE a.attrelid = to_regclass($1::text) AND a.attname = 'embedding' AND NOT a.attisdropped`,
    [chunkTable],
  );
  return rows[0]?.dims ?? null;
}

export interface DoctorCheck {
  name: string;
  ok: boolean;
  detail: string;
  hint?: string;
}

export interface DoctorReport {
  ok: boolean;
  checks: DoctorCheck[];
  providers: ProbeResult[];
}

/**
 * What `pgembed doctor` checks: the schema is installed and current, pgvector is there, workers are
 * alive, no pipeline is paused, and each pipeline's provider answers a probe with the right
 * dimensions — from this process (`via: 'local'`, the user's environment) or from a live worker
 * (`via: 'worker'`, through pgembed.test_provider()).
 */
export async function diagnose(
  db: Queryable,
  options: {
    pipelines?: string[] | undefined;
    via: 'local' | 'worker';
    timeoutMs: number;
    shippedVersion: number;
    installedVersion: number;
    providerFor: (pipeline: Pipeline) => EmbeddingProvider;
    listPipelines: (db: Queryable) => Promise<Pipeline[]>;
  },
): Promise<DoctorReport> {
  const checks: DoctorCheck[] = [];
  const providers: ProbeResult[] = [];
  const { rows: versions } = await db.query<{ postgres: string; pgvector: string | null }>(
    `SELECT current_setting('server_version') AS postgres,
            (SELECT extversion FROM pg_extension WHERE extname = 'vector') AS pgvector`,
  );
  const { postgres, pgvector } = versions[0]!;
  checks.push({
    name: 'database',
    ok: pgvector !== null,
    detail: `PostgreSQL ${postgres}, pgvector ${pgvector ?? 'not installed'}`,
    ...(pgvector === null ? { hint: 'run `pgembed init` (it creates the vector extension)' } : {}),
  });
  if (options.installedVersion === 0) {
    checks.push({
      name: 'schema',
      ok: false,
      detail: 'pgembed is not installed',
      hint: 'run `pgembed init`',
    });
    return { ok: false, checks, providers };
  }
  const current = options.installedVersion === options.shippedVersion;
  checks.push({
    name: 'schema',
    ok: current,
    detail: `migration ${options.installedVersion} of ${options.shippedVersion}`,
    ...(current
      ? {}
      : options.installedVersion < options.shippedVersion
        ? { hint: 'run `pgembed init` to upgrade' }
        : { hint: 'the schema is newer than this pgembed: upgrade pgembed where this runs' }),
  });
  const { rows: workers } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pgembed.workers WHERE last_heartbeat > now() - interval '1 minute'`,
  );
  const live = workers[0]!.n;
  checks.push({
    name: 'workers',
    ok: live > 0 || options.via === 'local',
    detail: `${live} live worker(s)`,
    ...(live === 0 ? { hint: 'nothing is processing the queue: start `pgembed worker`' } : {}),
  });
  const wanted = new Set(options.pipelines ?? []);
  const pipelines = (await options.listPipelines(db)).filter(
    (p) => p.status !== 'disabled' && (wanted.size === 0 || wanted.has(p.name)),
  );
  for (const name of wanted) {
    if (!pipelines.some((p) => p.name === name)) {
      checks.push({
        name: `pipeline ${name}`,
        ok: false,
        detail: 'no such enabled pipeline',
        hint: 'list them with `pgembed status`',
      });
    }
  }
  for (const pipeline of pipelines) {
    const { rows } = await db.query<{ status_message: string | null; pending: number; failed: number }>(
      `SELECT status_message, pending::int, failed::int FROM pgembed.queue_status WHERE pipeline = $1::text`,
      [pipeline.name],
    );
    const queue = rows[0];
    const paused = pipeline.status === 'paused';
    checks.push({
      name: `pipeline ${pipeline.name}`,
      ok: !paused,
      detail: `${pipeline.status}, ${queue?.pending ?? 0} pending, ${queue?.failed ?? 0} failed${paused && queue?.status_message ? `: ${queue.status_message}` : ''}`,
      ...(paused ? { hint: `fix the cause, then SELECT pgembed.resume_pipeline('${pipeline.name}')` } : {}),
    });
    let result: ProbeResult;
    if (options.via === 'worker') {
      try {
        const { rows: answer } = await db.query<{ result: ProbeResult }>(
          `SELECT pgembed.test_provider($1::text, $2::int * interval '1 millisecond') AS result`,
          [pipeline.name, options.timeoutMs],
        );
        result = answer[0]!.result;
      } catch (error) {
        result = {
          ok: false,
          pipeline: pipeline.name,
          provider: pipeline.provider,
          model: pipeline.model,
          dimensions: null,
          configured_dimensions: pipeline.dimensions,
          column_dimensions: null,
          dimensions_match: null,
          latency_ms: null,
          worker_id: null,
          code: (error as { code?: string }).code ?? null,
          error: error instanceof Error ? error.message : String(error),
        };
      }
    } else {
      let provider: EmbeddingProvider | undefined;
      result = await probeProvider(
        db,
        pipeline,
        () => {
          provider = options.providerFor(pipeline);
          return provider;
        },
        null,
      );
      await provider?.close?.().catch(() => {});
    }
    providers.push(result);
  }
  return { ok: checks.every((c) => c.ok) && providers.every((p) => p.ok), checks, providers };
}
