/**
 * Round diffs: what changed between two reviewed runs of a stage, stored once per gate round,
 * and the reads computing one needs (which run a round reviewed, a run's artifacts).
 */
import type { Db } from './db.js';
import type { Artifact, StoredDiff } from '../port.js';

export type { StoredDiff };

type Row = { job_id: number; stage: string; round: number; run: number; previous_run: number; data: string; created_at: number };
type ArtifactRow = { id: number; job_id: number; stage: string; run: number; name: string; path: string; size: number; media_type: string; sha256: string; created_at: number };

export function diffStatements(db: Db) {
  const q = {
    get: db.prepare('SELECT * FROM round_diffs WHERE job_id = ? AND stage = ? AND round = ?'),
    // A concurrent or repeated computation stores the same value: the first one stays.
    insert: db.prepare(`INSERT INTO round_diffs (job_id, stage, round, run, previous_run, data, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (job_id, stage, round) DO NOTHING`),
    // gate.opened events name the run they review (since round diffs exist).
    openedRun: db.prepare(`SELECT json_extract(data, '$.run') AS run FROM events
      WHERE job_id = ? AND type = 'gate.opened' AND json_extract(data, '$.stage') = ? AND json_extract(data, '$.round') = ?
      ORDER BY seq DESC LIMIT 1`),
    // Older gates did not record their run: a gated stage's successful run opens one round, so
    // the latest run with artifacts before `run` is the one reviewed last.
    runBefore: db.prepare('SELECT MAX(run) AS run FROM artifacts WHERE job_id = ? AND stage = ? AND run < ?'),
    artifactsOf: db.prepare('SELECT * FROM artifacts WHERE job_id = ? AND stage = ? AND run = ? ORDER BY id'),
  };
  return {
    get(job: number, stage: string, round: number): StoredDiff | undefined {
      const r = q.get.get(job, stage, round) as Row | undefined;
      return r && { job: r.job_id, stage: r.stage, round: r.round, run: r.run, previousRun: r.previous_run, data: JSON.parse(r.data), createdAt: r.created_at };
    },
    insert(d: Omit<StoredDiff, 'createdAt'>, at: number): void {
      q.insert.run(d.job, d.stage, d.round, d.run, d.previousRun, JSON.stringify(d.data), at);
    },
    /** The run the gate round reviewed, when its gate.opened event says. */
    reviewedRun(job: number, stage: string, round: number): number | undefined {
      const r = q.openedRun.get(job, stage, round) as { run: number | null } | undefined;
      return typeof r?.run === 'number' ? r.run : undefined;
    },
    runBefore(job: number, stage: string, run: number): number | undefined {
      const r = q.runBefore.get(job, stage, run) as { run: number | null } | undefined;
      return r?.run ?? undefined;
    },
    artifactsOf(job: number, stage: string, run: number): Artifact[] {
      return (q.artifactsOf.all(job, stage, run) as ArtifactRow[]).map((r) => ({
        id: r.id, job: r.job_id, stage: r.stage, run: r.run, name: r.name, path: r.path, size: r.size,
        mediaType: r.media_type, sha256: r.sha256, createdAt: r.created_at,
      }));
    },
  };
}
