// Values test/support/global-setup.ts shares with test files through vitest's provide/inject.
import 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /**
     * Admin connection string of the run's shared PostgreSQL 15 + pgvector server; `null` only outside
     * CI when no server could be started (tests that need one skip, and the run prints why).
     */
    pgAdminUrl: string | null;
    /** Unix socket directory, or `null` for an external server over TCP. */
    pgSocketDir: string | null;
    pgPort: number | null;
    /** Data directory, or `null` for an external server. */
    pgDataDir: string | null;
  }
}
