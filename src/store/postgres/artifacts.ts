/** Artifacts on PostgreSQL (mirrors ../sqlite/artifacts.ts): files stages produced. */
import type { Artifact } from '../port.js';
import type { ArtifactFile } from '../../orchestrator/types.js';
import { row, rows, type Queryable } from './sql.js';

type Row = { id: number; job_id: number; stage: string; run: number; name: string; path: string; size: number; media_type: string; sha256: string; created_at: number };
export const toArtifact = (r: Row): Artifact => ({
  id: r.id, job: r.job_id, stage: r.stage, run: r.run, name: r.name, path: r.path, size: r.size,
  mediaType: r.media_type, sha256: r.sha256, createdAt: r.created_at,
});
export type ArtifactRow = Row;

export function artifactStatements(db: Queryable) {
  return {
    /** `tx` is the client of the job's transaction. */
    async insert(tx: Queryable, job: number, f: ArtifactFile, at: number): Promise<Artifact> {
      const r = await row<{ id: number }>(tx, `INSERT INTO artifacts (job_id, stage, run, name, path, size, media_type, sha256, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`, [job, f.stage, f.run, f.name, f.path, f.size, f.mediaType, f.sha256, at]);
      return { ...f, id: r!.id, job, createdAt: at };
    },
    async byId(id: number): Promise<Artifact | undefined> {
      const r = await row<Row>(db, 'SELECT * FROM artifacts WHERE id = $1', [id]);
      return r && toArtifact(r);
    },
    // The latest run of each stage is what later stages and people see.
    async current(job: number): Promise<Artifact[]> {
      return (await rows<Row>(db, `SELECT a.* FROM artifacts a WHERE a.job_id = $1
        AND a.run = (SELECT MAX(b.run) FROM artifacts b WHERE b.job_id = a.job_id AND b.stage = a.stage) ORDER BY a.id`, [job])).map(toArtifact);
    },
  };
}
