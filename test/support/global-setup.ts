/**
 * Starts ONE PostgreSQL cluster for the whole vitest run and shares how to reach it with the test
 * files (`inject('pgAdminUrl')`); each test file then makes its own databases with
 * `createTestDatabase`. Tests that restart or crash the server start a private cluster instead, so
 * they cannot disturb files running in parallel.
 */
import type { TestProject } from 'vitest/node';
import { type Cluster, startCluster } from './postgres.js';

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let cluster: Cluster | undefined;
  try {
    cluster = await startCluster();
  } catch (error) {
    // In CI a missing server is a failure, never a skip: integration tests that silently do not run
    // prove nothing. Locally, unit tests should still run on a machine without PostgreSQL.
    if (process.env.CI === 'true') throw error;
    const reason = error instanceof Error ? error.message : String(error);
    process.stderr.write(
      `\n[pgembed] No PostgreSQL for this run; tests that need it will skip.\n${reason}\n\n`,
    );
  }

  project.provide('pgAdminUrl', cluster?.adminUrl ?? null);
  project.provide('pgSocketDir', cluster?.socketDir ?? null);
  project.provide('pgPort', cluster?.port ?? null);
  project.provide('pgDataDir', cluster?.dataDir ?? null);

  return async () => {
    await cluster?.stop();
  };
}
