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
    // One file at a time (vitest's default on 2 cores). Three at once took a run from about 12 to
    // under 5 minutes, but timing-sensitive PostgreSQL tests (the event feed's wait for open
    // transactions) then failed now and then in CI; see README, Development.
    maxWorkers: 1,
    reporters: ['default'],
  },
});
