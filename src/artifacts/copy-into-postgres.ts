/**
 * `signoff migrate --to postgres://…` moves artifact contents too: after the rows are copied,
 * each artifact whose file is in the data directory is stored in PostgreSQL and its row pointed
 * there, one file per transaction, so any process of a cluster can serve the old artifacts as
 * well as the new. A file that is gone (removed by hand) keeps its old path: it reads as missing,
 * as it did on SQLite.
 */
import fs from 'node:fs/promises';
import type pg from 'pg';
import { artifactContentStatements } from '../store/postgres/artifact-contents.js';
import { chunksOf } from './postgres.js';

export interface ContentsCopied {
  copied: number;
  bytes: number;
  /** Artifacts whose file was missing or no longer had its recorded size: left as they were. */
  missing: { id: number; path: string }[];
}

/** Stores the contents of every artifact row that still names a file; what it did. */
export async function copyContentsIntoPostgres(pool: pg.Pool, now = Date.now()): Promise<ContentsCopied> {
  const s = artifactContentStatements(pool);
  const done: ContentsCopied = { copied: 0, bytes: 0, missing: [] };
  for (const a of await s.onDisk()) {
    const stat = await fs.stat(a.path).catch(() => undefined);
    if (!stat?.isFile() || stat.size !== a.size) {
      done.missing.push({ id: a.id, path: a.path });
      continue;
    }
    await s.put(a.job_id, a.size, chunksOf(a.path, a.size), now, a.id);
    done.copied++;
    done.bytes += a.size;
  }
  return done;
}
