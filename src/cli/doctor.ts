import type { Command } from 'commander';
import { installedVersion, loadMigrations } from '../db/migrate.js';
import { listPipelines } from '../pipelines/pipeline.js';
import { providerConfigOf } from '../pipelines/provider.js';
import { type DoctorReport, diagnose } from '../providers/diagnose.js';
import { createProvider } from '../providers/index.js';
import { fail, type GlobalOptions, openDatabase, parseInteger, withDatabaseOptions } from './common.js';

interface DoctorCliOptions extends GlobalOptions {
  pipeline?: string[];
  viaWorker?: boolean;
  timeoutMs: number;
}

export function registerDoctor(program: Command): void {
  withDatabaseOptions(
    program
      .command('doctor')
      .description("check the database, workers, pipelines and each pipeline's provider (a live probe)")
      .option('--pipeline <name...>', 'check only these pipelines (default: all)')
      .option(
        '--via-worker',
        "probe through a live worker (pgembed.test_provider()): its environment, keys and network, not this shell's",
      )
      .option(
        '--timeout-ms <ms>',
        'how long to wait for a worker to answer',
        parseInteger('--timeout-ms', 100, 600_000),
        15_000,
      )
      .addHelpText(
        'after',
        `
Exits 1 when any check fails. The probe embeds one short text with the pipeline's provider and
reports the model, the dimensions it returns against the chunk table's, and the latency.

Examples:
  $ pgembed doctor
  $ OPENAI_API_KEY=sk-… pgembed doctor --pipeline articles
  $ DATABASE_URL=postgres://localhost/app pgembed doctor --via-worker --json`,
      ),
  ).action(async (options: DoctorCliOptions) => {
    let report: DoctorReport;
    try {
      const db = await openDatabase(options, 'none');
      try {
        report = await diagnose(db, {
          pipelines: options.pipeline,
          via: options.viaWorker ? 'worker' : 'local',
          timeoutMs: options.timeoutMs,
          shippedVersion: Math.max(...loadMigrations().map((m) => m.id)),
          installedVersion: await installedVersion(db),
          providerFor: (pipeline) => createProvider(providerConfigOf(pipeline)),
          listPipelines,
        });
      } finally {
        await db.close();
      }
    } catch (error) {
      fail(error, options.json);
    }
    if (options.json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
      const lines: string[] = [];
      for (const check of report.checks) {
        lines.push(`${check.ok ? '✓' : '✗'} ${check.name}: ${check.detail}`);
        if (check.hint) lines.push(`    hint: ${check.hint}`);
      }
      for (const probe of report.providers) {
        const what = `provider ${probe.pipeline}: ${probe.provider} ${probe.model}`;
        lines.push(
          probe.ok
            ? `✓ ${what}, ${probe.dimensions} dimensions (chunk column ${probe.column_dimensions ?? '?'}), ${probe.latency_ms} ms`
            : `✗ ${what}: ${probe.code ? `${probe.code}: ` : ''}${probe.error}`,
        );
      }
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    process.exitCode = report.ok ? 0 : 1;
  });
}
