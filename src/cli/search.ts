import { type Command, InvalidArgumentError, Option } from 'commander';
import { createPgembed } from '../index.js';
import type { SearchFilter, SearchResult } from '../search/search.js';
import {
  fail,
  type GlobalOptions,
  output,
  parseInteger,
  parseNumber,
  refuseMissingEmbedded,
  usageError,
  withDatabaseOptions,
} from './common.js';

interface SearchCliOptions extends GlobalOptions {
  table?: string;
  pipeline?: string;
  k: number;
  hybrid: boolean;
  textMatch?: 'auto' | 'all' | 'any';
  filter?: SearchFilter['metadata'];
  where: Record<string, string>;
  tenant?: string;
  minScore?: number;
  groupByDocument?: boolean;
  efSearch?: number;
  parent?: boolean;
}

function parseJsonObject(value: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new InvalidArgumentError(`--filter must be a JSON object, e.g. '{"lang":"en"}'.`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InvalidArgumentError(`--filter must be a JSON object, e.g. '{"lang":"en"}'.`);
  }
  return parsed as Record<string, unknown>;
}

function collectWhere(value: string, previous: Record<string, string>): Record<string, string> {
  const at = value.indexOf('=');
  if (at < 1) throw new InvalidArgumentError('--where takes column=value.');
  return { ...previous, [value.slice(0, at)]: value.slice(at + 1) };
}

export function registerSearch(program: Command): void {
  withDatabaseOptions(
    program
      .command('search <query>')
      .description("hybrid (full-text + vector) or vector search over a pipeline's chunks")
      .option('--table <name>', 'source table of the pipeline')
      .option('--pipeline <name>', 'pipeline name (when a table has several)')
      .option('-k, --k <n>', 'number of results', parseInteger('-k', 1, 1000), 5)
      .option('--no-hybrid', 'vector search only (default: full text and vectors fused by RRF)')
      .addOption(
        new Option('--text-match <mode>', 'full-text words: auto (every word, else any), all, any')
          .choices(['auto', 'all', 'any'])
          .default('auto'),
      )
      .option('--filter <json>', 'chunks whose metadata contains this JSON object', parseJsonObject)
      .option(
        '--where <column=value>',
        'documents whose source column equals value (repeatable)',
        collectWhere,
        {},
      )
      .option('--tenant <id>', 'only this tenant (required on multi-tenant pipelines)')
      .option(
        '--min-score <s>',
        'drop results with cosine similarity below s',
        parseNumber('--min-score', -1, 1),
      )
      .option('--group-by-document', 'best chunk per document')
      .option('--parent', "hierarchical pipelines: show each hit's parent section")
      .option(
        '--ef-search <n>',
        'hnsw.ef_search for this query (default: the tuned value)',
        parseInteger('--ef-search', 1, 1000),
      )
      .addHelpText(
        'after',
        `
Examples:
  $ pgembed search "how do I reset a password" --table articles
  $ pgembed search "error XJ-4471" --pipeline docs -k 10 --group-by-document --json
  $ pgembed search "refund policy" --table articles --where category=billing --filter '{"lang":"en"}'
  $ pgembed search "invoices" --table tickets --tenant acme --no-hybrid
  $ pgembed search "install on debian" --table manuals --parent`,
      ),
  ).action(async (query: string, options: SearchCliOptions, command: Command) => {
    if (!options.table && !options.pipeline) usageError(command, 'give --table <name> or --pipeline <name>');
    try {
      refuseMissingEmbedded(options);
      const filter: SearchFilter = {};
      if (options.filter) filter.metadata = options.filter;
      if (Object.keys(options.where).length) filter.source = options.where;
      // migrate: false: a search never changes the schema, and runs as roles that may not.
      const pg = await createPgembed({
        databaseUrl: options.databaseUrl,
        dataDir: options.dataDir,
        migrate: false,
      });
      try {
        const results = await pg.search(query, {
          table: options.table,
          pipeline: options.pipeline,
          k: options.k,
          hybrid: options.hybrid ? { textMatch: options.textMatch ?? 'auto' } : false,
          ...(filter.metadata || filter.source ? { filter } : {}),
          ...(options.tenant !== undefined ? { tenant: options.tenant } : {}),
          ...(options.minScore !== undefined ? { minScore: options.minScore } : {}),
          ...(options.groupByDocument ? { groupByDocument: true } : {}),
          ...(options.efSearch !== undefined ? { efSearch: options.efSearch } : {}),
          ...(options.parent ? { parents: true } : {}),
        });
        output(options, results, () => formatResults(results));
      } finally {
        await pg.close();
      }
    } catch (error) {
      fail(error, options.json);
    }
  });
}

export function formatResults(results: SearchResult[]): string {
  if (results.length === 0) return 'no results (is the worker running, and has it drained the queue?)';
  return results
    .map((r, i) => {
      const text = r.content.replace(/\s+/g, ' ').trim();
      const ranks =
        r.vectorRank !== undefined
          ? ` (vector #${r.vectorRank ?? '–'}, text #${r.textRank ?? '–'}${r.similarity === null ? '' : `, similarity ${r.similarity.toFixed(3)}`})`
          : '';
      const where = r.headingPath?.length ? ` § ${r.headingPath.join(' › ')}` : '';
      const parent = r.parent
        ? `\n   in section ${r.parent.sectionIndex} chars ${r.parent.startChar}–${r.parent.endChar}${r.parent.headingPath?.length ? ` § ${r.parent.headingPath.join(' › ')}` : ''} (${r.parent.tokenCount} tokens)`
        : '';
      return `${i + 1}. [${r.score.toFixed(3)}] document ${JSON.stringify(r.documentKey)} chunk ${r.chunkIndex} chars ${r.startChar}–${r.endChar}${where}${ranks}\n   ${text.length > 200 ? `${text.slice(0, 200)}…` : text}${parent}`;
    })
    .join('\n');
}
