import type { WorkerEventMap, WorkerEventName, WorkerEvents } from '../worker/events.js';

const LOGGED: { event: WorkerEventName; level: 'info' | 'warn' | 'error' }[] = [
  { event: 'worker:started', level: 'info' },
  { event: 'worker:stopped', level: 'info' },
  { event: 'batch:written', level: 'info' },
  { event: 'job:retry', level: 'warn' },
  { event: 'job:failed', level: 'error' },
  { event: 'leases:recovered', level: 'warn' },
  { event: 'pipeline:dropped', level: 'warn' },
  // A paused pipeline needs a human; 429s show pacing at work.
  { event: 'pipeline:paused', level: 'error' },
  { event: 'provider:rate_limited', level: 'warn' },
  { event: 'index:built', level: 'info' },
  { event: 'error', level: 'error' },
];

/** Structured logs: one JSON object per line on stderr. Payloads hold counts and messages, never keys. */
export function logEvents(events: WorkerEvents): void {
  for (const { event, level } of LOGGED) {
    events.on(event, (payload: WorkerEventMap[typeof event]) => {
      process.stderr.write(
        `${JSON.stringify({ time: new Date().toISOString(), level, event, ...payload })}\n`,
      );
    });
  }
}
