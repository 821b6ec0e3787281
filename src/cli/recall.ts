import type { Command } from 'commander';
import { measureRecall, type RecallReport, tuneEfSearch } from '../search/recall.js';
import {
  type GlobalOptions,
  output,
  parseInteger,
  parseNumber,
  withDatabase,
  withDatabaseOptions,
} from './common.js';

interface RecallCliOptions extends GlobalOptions {
  sample: number;
  k: number;
  efSearch?: number;
  tune?: boolean;
  target: number;
}

function line(r: RecallReport): string {
  return `recall@${r.k} ${r.recall.toFixed(3)} (worst query ${r.minRecall.toFixed(2)})  ef_search=${r.efSearch ?? '—'}  index p50 ${r.indexLatency.p50Ms.toFixed(2)} ms p99 ${r.indexLatency.p99Ms.toFixed(2)} ms`;
}

export function registerRecall(program: Command): void {
  withDatabaseOptions(
    program
      .command('recall <pipeline>')
      .description("measure the vector index's recall@k against exact search; --tune sets ef_search")
      .option('--sample <n>', 'stored chunks used as queries', parseInteger('--sample', 1, 10_000), 100)
      .option('--k <n>', 'neighbours compared per query', parseInteger('--k', 1, 1000), 10)
      .option(
        '--ef-search <n>',
        'measure this hnsw.ef_search (default: the one searches use)',
        parseInteger('--ef-search', 1, 1000),
      )
      .option('--tune', 'find the smallest ef_search reaching --target and store it in the pipeline')
      .option(
        '--target <recall>',
        'recall@k to reach with --tune',
        parseNumber('--target', 0, 1, 'min'),
        0.95,
      )
      .addHelpText(
        'after',
        `
Method: each sampled chunk's embedding is a query; its exact k nearest neighbours come from a
sequential scan (index scans disabled), the approximate ones from pgembed.search, as applications
call it. The chunk itself is left out; ties at the k-th distance count as found.

Examples:
  $ pgembed recall articles
  $ pgembed recall articles --sample 500 --k 20 --json
  $ pgembed recall articles --tune --target 0.95`,
      ),
  ).action((pipeline: string, options: RecallCliOptions) =>
    withDatabase(options, 'check', async (db) => {
      if (options.tune) {
        const report = await tuneEfSearch(db, pipeline, {
          sample: options.sample,
          k: options.k,
          target: options.target,
        });
        output(options, report, () =>
          [
            ...report.steps.map(line),
            report.reached
              ? `ef_search ${report.efSearch} reaches recall@${options.k} ≥ ${report.target}; stored in pipeline ${report.pipeline}, searches use it now`
              : `even ef_search 1000 stays below ${report.target}: nothing stored (rebuild the index with larger m / ef_construction: pgembed reindex ${report.pipeline} --m 32)`,
          ].join('\n'),
        );
        if (!report.reached) process.exitCode = 1;
        return;
      }
      const report = await measureRecall(db, pipeline, {
        sample: options.sample,
        k: options.k,
        ...(options.efSearch !== undefined ? { efSearch: options.efSearch } : {}),
      });
      output(options, report, () =>
        [
          `${report.pipeline}: ${report.chunks} chunks, ${report.indexType} index, ${report.sample} sampled queries`,
          line(report),
          `exact scan p50 ${report.exactLatency.p50Ms.toFixed(2)} ms p99 ${report.exactLatency.p99Ms.toFixed(2)} ms`,
        ].join('\n'),
      );
    }),
  );
}
