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
    // Most of a run is waiting (child processes, leases, timers), not CPU: with vitest's default
    // of one file at a time on 2 cores the machine sat at a load under 1 for 12 minutes. Three
    // files at once keeps the run well under 10 minutes; the timeouts above leave room for it.
    maxWorkers: 3,
    reporters: ['default'],
  },
});
