/** Artifacts: files stages produced, registered with their size, type and checksum. */
import type { Db } from './db.js';
import type { Artifact } from '../port.js';
import type { ArtifactFile } from '../../orchestrator/types.js';

export type { Artifact };

type Row = { id: number; job_id: number; stage: string; run: number; name: string; path: string; size: number; media_type: string; sha256: string; created_at: number };
const toArtifact = (r: Row): Artifact => ({
  id: r.id, job: r.job_id, stage: r.stage, run: r.run, name: r.name, path: r.path, size: r.size,
  mediaType: r.media_type, sha256: r.sha256, createdAt: r.created_at,
});

export function artifactStatements(db: Db) {
  const q = {
    insert: db.prepare(`INSERT INTO artifacts (job_id, stage, run, name, path, size, media_type, sha256, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    byId: db.prepare('SELECT * FROM artifacts WHERE id = ?'),
    // The latest run of each stage is what later stages and people see.
    current: db.prepare(`SELECT a.* FROM artifacts a WHERE a.job_id = ?
      AND a.run = (SELECT MAX(b.run) FROM artifacts b WHERE b.job_id = a.job_id AND b.stage = a.stage) ORDER BY a.id`),
  };
  return {
    insert(job: number, f: ArtifactFile, at: number): Artifact {
      const id = Number(q.insert.run(job, f.stage, f.run, f.name, f.path, f.size, f.mediaType, f.sha256, at).lastInsertRowid);
      return { ...f, id, job, createdAt: at };
    },
    byId(id: number): Artifact | undefined {
      const row = q.byId.get(id) as Row | undefined;
      return row && toArtifact(row);
    },
    current(job: number): Artifact[] {
      return (q.current.all(job) as Row[]).map(toArtifact);
    },
  };
}
