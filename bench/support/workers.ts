/**
 * pgembed workers in processes of their own (worker-process.ts), for benchmarks whose measuring loop
 * must not share a JavaScript thread with the workers, or that need more than one of them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const WORKER_SCRIPT = fileURLToPath(new URL('./worker-process.ts', import.meta.url));
const OPENAI_SCRIPT = fileURLToPath(new URL('./openai-process.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Starts a worker process and resolves once it printed `until` — `ready` (started: it may already be
 * working) or `idle` (nothing left to do and its wake-up flag armed).
 */
export async function startWorkerProcess(
  url: string,
  options: {
    concurrency?: number;
    until: 'ready' | 'idle';
    env?: Record<string, string>;
    /** Extra node flags, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile the worker. */
    nodeArgs?: string[];
  },
): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), '--import', 'tsx', WORKER_SCRIPT, url, String(options.concurrency ?? 1)],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...options.env },
    },
  );
  await new Promise<void>((resolve, reject) => {
    let output = '';
    const onData = (data: Buffer) => {
      output += data.toString();
      if (output.includes(`${options.until}\n`)) {
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) =>
      reject(new Error(`worker process exited with ${code} before printing ${options.until}`)),
    );
  });
  return child;
}

/** Starts the OpenAI emulator in its own process (openai-process.ts) and resolves with its base URL. */
export async function startOpenAIProcess(): Promise<{ child: ChildProcess; baseUrl: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', OPENAI_SCRIPT], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const baseUrl = await new Promise<string>((resolve, reject) => {
    let output = '';
    const onData = (data: Buffer) => {
      output += data.toString();
      const newline = output.indexOf('\n');
      if (newline >= 0) {
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        resolve(output.slice(0, newline));
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`emulator process exited with ${code} before listening`)));
  });
  return { child, baseUrl };
}

export async function stopWorkerProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}
