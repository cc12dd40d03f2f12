/** Round diffs on PostgreSQL (mirrors ../sqlite/diffs.ts). JSON columns are text, read as jsonb here. */
import type { Artifact, StoredDiff } from '../port.js';
import { toArtifact, type ArtifactRow } from './artifacts.js';
import { row, rows, run, type Queryable } from './sql.js';

type Row = { job_id: number; stage: string; round: number; run: number; previous_run: number; data: string; created_at: number };

export function diffStatements(db: Queryable) {
  return {
    async get(job: number, stage: string, round: number): Promise<StoredDiff | undefined> {
      const r = await row<Row>(db, 'SELECT * FROM round_diffs WHERE job_id = $1 AND stage = $2 AND round = $3', [job, stage, round]);
      return r && { job: r.job_id, stage: r.stage, round: r.round, run: r.run, previousRun: r.previous_run, data: JSON.parse(r.data), createdAt: r.created_at };
    },
    // A concurrent or repeated computation stores the same value: the first one stays.
    async insert(d: Omit<StoredDiff, 'createdAt'>, at: number): Promise<void> {
      await run(db, `INSERT INTO round_diffs (job_id, stage, round, run, previous_run, data, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (job_id, stage, round) DO NOTHING`, [d.job, d.stage, d.round, d.run, d.previousRun, JSON.stringify(d.data), at]);
    },
    /** The run the gate round reviewed, when its gate.opened event says. */
    async reviewedRun(job: number, stage: string, round: number): Promise<number | undefined> {
      const r = await row<{ run: unknown }>(db, `SELECT data::jsonb -> 'run' AS run FROM events
        WHERE job_id = $1 AND type = 'gate.opened' AND data::jsonb ->> 'stage' = $2 AND data::jsonb ->> 'round' = $3
        ORDER BY seq DESC LIMIT 1`, [job, stage, String(round)]);
      return typeof r?.run === 'number' ? r.run : undefined;
    },
    // Older gates did not record their run: the latest run with artifacts before `run` is the one reviewed last.
    async runBefore(job: number, stage: string, runNo: number): Promise<number | undefined> {
      const r = await row<{ run: number | null }>(db, 'SELECT MAX(run) AS run FROM artifacts WHERE job_id = $1 AND stage = $2 AND run < $3', [job, stage, runNo]);
      return r?.run ?? undefined;
    },
    async artifactsOf(job: number, stage: string, runNo: number): Promise<Artifact[]> {
      return (await rows<ArtifactRow>(db, 'SELECT * FROM artifacts WHERE job_id = $1 AND stage = $2 AND run = $3 ORDER BY id', [job, stage, runNo])).map(toArtifact);
    },
  };
}
