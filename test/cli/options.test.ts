/**
 * Option validation of every `pgembed` command. The commands and options are enumerated from the
 * commander program itself, so an option added later is covered (or this test fails until it is
 * classified). A bad value is a usage error: exit status 2, stderr one `error:` line and one `hint:`
 * line, no stack trace. In-process (the same program and exit mapping `main.ts` uses, with the
 * actions replaced so nothing connects) for the full matrix; as real processes for a sample.
 */
import { type Command, CommanderError, type Option } from 'commander';
import { describe, expect, it } from 'vitest';
import type { NumberParser } from '../../src/cli/common.js';
import { buildProgram, exitCodeOf } from '../../src/cli/program.js';
import { runCli } from '../support/cli.js';

interface Parsed {
  code: number;
  stderr: string;
  /** The options the action received (undefined when parsing failed). */
  options: Record<string, unknown> | undefined;
}

async function parse(argv: string[]): Promise<Parsed> {
  const program = buildProgram();
  let stderr = '';
  let options: Record<string, unknown> | undefined;
  const quiet = (command: Command) => {
    command.configureOutput({
      writeErr: (text) => {
        stderr += text;
      },
      writeOut: () => {},
    });
    for (const sub of command.commands) quiet(sub);
  };
  quiet(program);
  for (const command of program.commands) {
    command.action((...args: unknown[]) => {
      options = args.at(-2) as Record<string, unknown>;
    });
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return { code: 0, stderr, options };
  } catch (error) {
    // Anything but commander's own error is the bug this test exists for (an uncaught exception).
    if (!(error instanceof CommanderError)) throw error;
    return { code: exitCodeOf(error), stderr, options: undefined };
  }
}

/** Arguments that make a command otherwise valid: its positional arguments and mandatory options. */
function baseArgs(command: Command): string[] {
  const args = [command.name(), ...command.registeredArguments.map(() => 'x')];
  for (const option of command.options) if (option.mandatory) args.push(option.long!, 'x');
  return args;
}

function expectUsageError(run: Parsed, command: string, what: string): void {
  expect(run.code, what).toBe(2);
  const lines = run.stderr.split('\n');
  expect(lines, `${what}: ${run.stderr}`).toHaveLength(3);
  expect(lines[0], what).toMatch(/^error: \S/);
  expect(lines[1], what).toBe(`hint: \`pgembed ${command} --help\` lists its options and examples`);
  expect(lines[2]).toBe('');
}

/** Options whose value is free text (names, URLs, paths): nothing to validate when parsing. */
const FREE_TEXT = new Set([
  '--database-url',
  '--data-dir',
  '--column',
  '--chunk-table',
  '--model',
  '--pipeline',
  '--api-key-env',
  '--base-url',
  '--title-column',
  '--heading-separator',
  '--locale',
  '--table',
  '--tenant',
]);

/** Options with a parser of their own: values it must refuse, and one it must take. */
const CUSTOM: Record<string, { bad: string[]; good: string }> = {
  'enable --levels': {
    bad: [
      'markdown',
      'markdown:abc',
      'markdown:0',
      'markdown:10:-1',
      ':10',
      'markdown:1.5',
      'markdown:10:5:3',
      'nope:100',
      'markdown:2000,',
    ],
    good: 'markdown:2000,semantic:400:50',
  },
  'search --filter': { bad: ['not json', '[1]', 'null', '"x"'], good: '{"lang":"en"}' },
  'search --where': { bad: ['team', '=red'], good: 'team=red' },
};

interface Case {
  command: Command;
  option: Option;
}

function valueOptions(): Case[] {
  const cases: Case[] = [];
  for (const command of buildProgram().commands) {
    for (const option of command.options) {
      if (option.required || option.optional) cases.push({ command, option });
    }
  }
  return cases;
}

const rangeOf = (option: Option) => (option.parseArg as NumberParser | undefined)?.range;

function integerValues(min: number, max: number): { bad: string[]; good: string[] } {
  const candidates = ['0', '-1', '-3', String(min), String(max), String(min - 1), String(max + 1)];
  return {
    bad: [
      'abc',
      '1.5',
      '',
      ' ',
      '1e2',
      '0x10',
      '5abc',
      ...candidates.filter((v) => Number(v) < min || Number(v) > max),
    ],
    good: [...new Set(candidates.filter((v) => Number(v) >= min && Number(v) <= max))],
  };
}

describe('CLI option values', () => {
  it('every option that takes a value is validated as a number, a choice, by its own parser, or is free text', () => {
    const unclassified = valueOptions()
      .filter(({ command, option }) => {
        const key = `${command.name()} ${option.long}`;
        if (rangeOf(option) || option.argChoices) return false;
        if (option.parseArg) return !CUSTOM[key];
        return !FREE_TEXT.has(option.long!);
      })
      .map(({ command, option }) => `${command.name()} ${option.flags}`);
    expect(unclassified).toEqual([]);
    // The matrix below covers something: the numeric options the CLI has today.
    const numeric = valueOptions().filter(({ option }) => rangeOf(option)?.integer);
    expect(numeric.map(({ command, option }) => `${command.name()} ${option.long}`)).toEqual(
      expect.arrayContaining([
        'enable --chunk-size',
        'enable --chunk-overlap',
        'worker --concurrency',
        'worker --batch-size',
        'worker --lease-ms',
        'worker --poll-ms',
        'search --k',
        'recall --sample',
        'reindex --lists',
        'doctor --timeout-ms',
        'demo --k',
      ]),
    );
  });

  it('integer options refuse 0 and -1 below their minimum, abc, 1.5 and out-of-range values with exit 2 and two lines', async () => {
    for (const { command, option } of valueOptions()) {
      const range = rangeOf(option);
      if (!range?.integer) continue;
      const name = command.name();
      const { bad, good } = integerValues(range.min, range.max);
      for (const value of bad) {
        const run = await parse([...baseArgs(command), option.long!, value]);
        expectUsageError(run, name, `${name} ${option.long} "${value}"`);
        // The reason names the option as the user typed it (-k or --k).
        expect(run.stderr).toContain(`argument '${value}' is invalid. `);
        expect(
          [option.long, option.short].some((flag) =>
            run.stderr.includes(`${flag} must be an integer between ${range.min} and ${range.max}.`),
          ),
          run.stderr,
        ).toBe(true);
      }
      for (const value of good) {
        const run = await parse([...baseArgs(command), option.long!, value]);
        expect(run, `${name} ${option.long} "${value}"`).toMatchObject({ code: 0, stderr: '' });
        expect(run.options?.[option.attributeName()]).toBe(Number(value));
      }
    }
  });

  it('decimal options refuse non-numbers and values outside their range', async () => {
    let checked = 0;
    for (const { command, option } of valueOptions()) {
      const range = rangeOf(option);
      if (!range || range.integer) continue;
      checked++;
      const name = command.name();
      const span = range.max - range.min;
      const bad = ['abc', '', 'NaN', 'Infinity', '1,5', String(range.min - span), String(range.max + span)];
      if (range.exclusive) bad.push(String(range.min));
      if (range.exclusive === 'both') bad.push(String(range.max));
      for (const value of bad) {
        expectUsageError(
          await parse([...baseArgs(command), option.long!, value]),
          name,
          `${name} ${option.long} "${value}"`,
        );
      }
      const middle = String((range.min + range.max) / 2);
      const run = await parse([...baseArgs(command), option.long!, middle]);
      expect(run.code, `${name} ${option.long} ${middle}`).toBe(0);
      expect(run.options?.[option.attributeName()]).toBe(Number(middle));
    }
    expect(checked).toBeGreaterThanOrEqual(3);
  });

  it('choice options refuse an unknown value and take every listed one', async () => {
    let checked = 0;
    for (const { command, option } of valueOptions()) {
      if (!option.argChoices) continue;
      checked++;
      const name = command.name();
      const run = await parse([...baseArgs(command), option.long!, 'nope']);
      expectUsageError(run, name, `${name} ${option.long} nope`);
      expect(run.stderr).toContain(`Allowed choices are ${option.argChoices.join(', ')}.`);
      for (const choice of option.argChoices) {
        const ok = await parse([...baseArgs(command), option.long!, choice]);
        expect(ok.code, `${name} ${option.long} ${choice}`).toBe(0);
        expect(ok.options?.[option.attributeName()]).toBe(choice);
      }
    }
    // --strategy, --provider, --breakpoints, --text-match, --type
    expect(checked).toBeGreaterThanOrEqual(5);
  });

  it('options with parsers of their own refuse bad values the same way', async () => {
    for (const [key, { bad, good }] of Object.entries(CUSTOM)) {
      const [name, flag] = key.split(' ') as [string, string];
      const command = buildProgram().commands.find((c) => c.name() === name)!;
      for (const value of bad) {
        expectUsageError(await parse([...baseArgs(command), flag, value]), name, `${key} ${value}`);
      }
      expect((await parse([...baseArgs(command), flag, good])).code, `${key} ${good}`).toBe(0);
    }
  });

  it('unknown options, missing values and missing arguments are usage errors too', async () => {
    expectUsageError(await parse(['worker', '--concurency', '2']), 'worker', 'unknown option');
    expectUsageError(await parse(['worker', '--batch-size']), 'worker', 'missing value');
    expectUsageError(await parse(['enable', 'articles']), 'enable', 'missing --column');
    expectUsageError(await parse(['search']), 'search', 'missing query');
    const top = await parse(['nope']);
    expect(top.code).toBe(2);
    expect(top.stderr).toBe("error: unknown command 'nope'\nhint: `pgembed --help` lists the commands\n");
  });
});

describe('CLI usage errors as a user sees them', () => {
  it('exit 2 with one error line and one hint line, never a stack trace', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['enable', 'articles', '--column', 'body', '--chunk-size', '0'],
        /--chunk-size <tokens>' argument '0'/,
      ],
      [['enable', 'articles', '--column', 'body', '--chunk-size', '-1'], /argument '-1' is invalid/],
      [['enable', 'articles', '--column', 'body', '--chunk-size', 'abc'], /argument 'abc' is invalid/],
      [['enable', 'articles', '--column', 'body', '--chunk-size', '1.5'], /argument '1.5' is invalid/],
      [['enable', 'articles', '--column', 'body', '--strategy', 'nope'], /Allowed choices are token/],
      [['worker', '--concurrency', '0'], /--concurrency must be an integer between 1 and 64\./],
      [['worker', '--batch-size', '-3'], /--batch-size must be an integer between 1 and 2048\./],
      [['worker', '--lease-ms', '0'], /--lease-ms must be an integer between 500 and 3600000\./],
      [['search', 'refunds'], /^error: give --table <name> or --pipeline <name>$/m],
    ];
    // Two at a time: each is a Node process starting tsx, on a machine others share.
    for (let i = 0; i < cases.length; i += 2) {
      await Promise.all(
        cases.slice(i, i + 2).map(async ([args, reason]) => {
          const run = await runCli([...args, '--data-dir', '/nonexistent/pgembed-options-test']);
          const what = args.join(' ');
          expect(run.code, what).toBe(2);
          expect(run.stdout, what).toBe('');
          expect(run.stderr, what).toMatch(
            /^error: [^\n]+\nhint: `pgembed \w+ --help` lists its options and examples\n$/,
          );
          expect(run.stderr, what).toMatch(reason);
          expect(run.stderr, what).not.toMatch(/\n\s+at |Node\.js v\d/);
        }),
      );
    }
  }, 240_000);
});
