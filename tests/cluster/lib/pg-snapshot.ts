/**
 * The chaos checks' view of a PostgreSQL store (the same shape as tests/chaos/lib/checks.ts reads
 * from SQLite), through the read-only facet src/store/postgres/audit-read.ts.
 */
import { readAuditRows } from '../../../src/store/postgres/audit-read.js';
import type { DbSnapshot } from '../../chaos/lib/checks.js';

/** Everything the checks need, in one consistent read-only snapshot of the database at `url`. */
export async function readPgSnapshot(url: string): Promise<DbSnapshot> {
  const rows = await readAuditRows(url);
  return {
    jobs: rows.jobs.map((j) => ({ ...j, def: JSON.parse(j.def) })),
    events: rows.events.map((e) => ({ ...e, data: JSON.parse(e.data) })),
    stages: rows.stages,
    gates: rows.gates,
    votes: rows.votes,
    outbox: rows.outbox,
    refs: rows.refs,
    // The schema version is SQLite's user_version; no check reads it on PostgreSQL.
    userVersion: 0,
    artifacts: rows.artifacts,
  };
}
