// Migrations are plain .sql files read at run time; tsc does not copy them, so the build does.
import { cpSync } from 'node:fs';

cpSync(
  new URL('../src/sql/migrations', import.meta.url),
  new URL('../dist/sql/migrations', import.meta.url),
  {
    recursive: true,
  },
);
