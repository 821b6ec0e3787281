/**
 * Finding a key in what pgembed shows: any run of {@link FRAGMENT} or more consecutive characters of
 * the key, at any offset, counts as a leak (a 12-character prefix narrows a key's search space as
 * much as a whole one helps an attacker guess its owner). Shorter fragments, such as the last 4
 * characters a provider's masked hint "sk-…wxyz" keeps, are ordinary text here; tests that accept
 * them say so.
 */
import { inspect } from 'node:util';

export const FRAGMENT = 6;

/** The leaked runs of `key` in `text`, longest first, each at most once; [] when none. */
export function keyFragments(text: string, key: string, min = FRAGMENT): string[] {
  const haystack = text.toLowerCase();
  const needle = key.toLowerCase();
  const found = new Set<string>();
  for (let start = 0; start + min <= needle.length; start++) {
    if (!haystack.includes(needle.slice(start, start + min))) continue;
    // Grow the match to report the whole leaked run, not only its first 6 characters.
    let end = start + min;
    while (end < needle.length && haystack.includes(needle.slice(start, end + 1))) end++;
    found.add(key.slice(start, end));
  }
  return [...found]
    .filter((run, _, all) => !all.some((other) => other !== run && other.includes(run)))
    .sort((a, b) => b.length - a.length);
}

/**
 * What an error exposes to whoever logs or stores it: its message, `String(error)`, every own
 * enumerable field, and the same for its `cause` chain. Not the stack's frames (file paths of this
 * checkout, not provider text).
 */
export function exposedBy(error: unknown, depth = 0): string {
  if (depth > 5 || error === undefined || error === null) return '';
  if (typeof error !== 'object') return String(error);
  const parts = [String(error)];
  if (error instanceof Error) parts.push(error.message);
  for (const [name, value] of Object.entries(error)) {
    if (value === undefined) continue;
    parts.push(name, typeof value === 'string' ? value : inspect(value, { depth: 5 }));
  }
  parts.push(exposedBy((error as { cause?: unknown }).cause, depth + 1));
  return parts.join('\n');
}

/** Deterministic pseudo-random text over `alphabet`: keys that do not change between runs. */
export function randomText(seed: number, length: number, alphabet: string): string {
  let state = seed;
  let out = '';
  for (let i = 0; i < length; i++) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    // The high bits: an LCG's low bits repeat with a short period.
    out += alphabet[Math.floor((state / 2 ** 31) * alphabet.length)];
  }
  return out;
}
export const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
export const URLSAFE = `${BASE62}-_`;
