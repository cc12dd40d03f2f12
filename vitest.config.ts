import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // One PostgreSQL server per run, started in the background (files that do not use it do not wait).
    globalSetup: ['tests/helpers/postgres-server.ts'],
    // Real child processes, real SQLite files and real HTTP servers: give them time on a
    // loaded 2-core machine; tests wait for events, never for fixed sleeps.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
