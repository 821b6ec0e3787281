/**
 * Where the CPU goes during a benchmark phase: this Node process, the benchmark's own PostgreSQL
 * cluster (every backend, background and parallel worker, including those that exited meanwhile),
 * and the whole machine. Read from Linux's /proc; elsewhere only the Node share is known.
 *
 * On a machine with few cores this is what bounds a throughput ratio: a pipeline that spends
 * C µs of CPU per chunk cannot exceed cores / C chunks per second, however well it overlaps.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CpuSnapshot {
  nodeUs: number;
  /** Null when /proc or the cluster's data directory cannot be read. */
  postgresUs: number | null;
  machine: { busyUs: number; totalUs: number } | null;
}

export interface CpuPerItem {
  /** CPU µs this Node process spent per item. */
  node: number;
  /** CPU µs the PostgreSQL cluster spent per item. */
  postgres: number | null;
  /** Share of the machine's CPU time (all cores) that was busy, 0–1. */
  machineBusy: number | null;
}

const TICK_US = 10_000; // USER_HZ = 100 on Linux

/** utime + stime (+ the reaped children's cutime + cstime) of one process, in µs. */
export function processCpuUs(pid: number, withChildren: boolean): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  // Fields after the command name, 0-based: 11 utime, 12 stime, 13 cutime, 14 cstime, 1 ppid.
  const own = fields[11]! + fields[12]!;
  return (own + (withChildren ? fields[13]! + fields[14]! : 0)) * TICK_US;
}

function postgresCpuUs(dataDir: string): number | null {
  try {
    const postmaster = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    let total = processCpuUs(postmaster, true);
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid === postmaster) total += processCpuUs(Number(entry), false);
      } catch {
        // The process exited between listing and reading: its time is now in the postmaster's cutime.
      }
    }
    return total;
  } catch {
    return null;
  }
}

function machineCpuUs(): CpuSnapshot['machine'] {
  try {
    const ticks = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1).map(Number);
    const total = ticks.reduce((sum, t) => sum + t, 0);
    const idle = ticks[3]! + ticks[4]!; // idle + iowait
    return { busyUs: (total - idle) * TICK_US, totalUs: total * TICK_US };
  } catch {
    return null;
  }
}

export function cpuSnapshot(dataDir: string | null): CpuSnapshot {
  const node = process.cpuUsage();
  return {
    nodeUs: node.user + node.system,
    postgresUs: dataDir ? postgresCpuUs(dataDir) : null,
    machine: machineCpuUs(),
  };
}

export function cpuPerItem(before: CpuSnapshot, after: CpuSnapshot, items: number): CpuPerItem {
  return {
    node: (after.nodeUs - before.nodeUs) / items,
    postgres:
      after.postgresUs !== null && before.postgresUs !== null
        ? (after.postgresUs - before.postgresUs) / items
        : null,
    machineBusy:
      after.machine && before.machine
        ? (after.machine.busyUs - before.machine.busyUs) / (after.machine.totalUs - before.machine.totalUs)
        : null,
  };
}
