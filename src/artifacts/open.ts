/**
 * Chooses where a process keeps artifact contents (see ./contents.ts): on SQLite the data
 * directory, as always; on PostgreSQL the database itself, unless SIGNOFF_ARTIFACTS_DIR names a
 * directory every process mounts at the same path.
 */
import path from 'node:path';
import type { Store } from '../store/store.js';
import type { PgStore } from '../store/postgres/store.js';
import { artifactContentStatements } from '../store/postgres/artifact-contents.js';
import type { ArtifactContents } from './contents.js';
import { LocalContents } from './local.js';
import { PgContents } from './postgres.js';

export interface ContentsSettings {
  dataDir: string;
  /** SIGNOFF_ARTIFACTS_DIR: a directory shared by every process (PostgreSQL only). */
  artifactsDir?: string;
  /** SIGNOFF_MAX_ARTIFACT_BYTES: largest output a stage may leave (PostgreSQL only). */
  maxBytes: number;
  now?: () => number;
}

/** Default cap on one output, SIGNOFF_MAX_ARTIFACT_BYTES's default. */
export const DEFAULT_MAX_ARTIFACT_BYTES = 100 * 1024 * 1024;

export function openArtifactContents(store: Store, s: ContentsSettings): ArtifactContents {
  // SQLite keeps everything in its data directory, without a cap, exactly as before.
  if (store.dialect !== 'postgres') return new LocalContents(path.join(s.dataDir, 'artifacts'));
  if (s.artifactsDir) return new LocalContents(path.resolve(s.artifactsDir), s.maxBytes);
  return new PgContents({
    statements: artifactContentStatements((store as PgStore).pool),
    scratchRoot: path.join(s.dataDir, 'artifacts'),
    cacheRoot: path.join(s.dataDir, 'cache'),
    maxBytes: s.maxBytes,
    ...(s.now ? { now: s.now } : {}),
  });
}
