/**
 * Where artifact contents live. A stage writes its outputs as files on the disk of the process
 * running it; `ArtifactContents.keep` then makes them readable by every process of the
 * deployment, and every reader (downloads, stage inputs, round diffs, chat previews and uploads)
 * goes through `ArtifactReader`, never through `fs` on `artifact.path`:
 *
 * - ./local.ts: the files stay where the stage wrote them, under one directory (the data
 *   directory on SQLite, as always; SIGNOFF_ARTIFACTS_DIR on PostgreSQL when every process mounts
 *   it at the same path); `artifact.path` is the file.
 * - ./postgres.ts (PostgreSQL's default): the bytes are copied into PostgreSQL in chunks and
 *   streamed from there; `artifact.path` is `postgres:<id>`.
 */
import type { Readable } from 'node:stream';
import type { Artifact } from '../store/store.js';
import type { ArtifactFile } from '../orchestrator/types.js';

/** What a reader needs of an artifact row. */
export type StoredArtifact = Pick<Artifact, 'id' | 'name' | 'path' | 'size'>;

/** Bytes `start` to `end`, both included (as in an HTTP Range). */
export interface ByteRange {
  start: number;
  end: number;
}

/** Reads artifact contents, wherever they are kept. */
export interface ArtifactReader {
  /** Whether the contents can be read (a local file removed by hand cannot). */
  has(a: StoredArtifact): Promise<boolean>;
  /** The bytes (a range of them when given) as a stream that reads a piece at a time. */
  stream(a: StoredArtifact, range?: ByteRange): Promise<Readable>;
  /** The first `maxBytes` bytes (all of them by default): for small files only (diffs, excerpts, chat attachments). */
  read(a: StoredArtifact, maxBytes?: number): Promise<Buffer>;
  /** A file on this host with the contents: the artifact's own file when local, else a cached copy. */
  localFile(a: StoredArtifact): Promise<string>;
  /** Where a PNG preview drawn from this artifact is kept on this host (never inside a stage's output). */
  previewPath(a: Pick<Artifact, 'id' | 'name' | 'path'>): string;
}

/** Where a stage run's files are written, and how they become readable everywhere. */
export interface ArtifactContents extends ArtifactReader {
  /** `local` or `postgres`, for logs and the start banner. */
  readonly kind: 'local' | 'postgres';
  /** Largest output a stage may leave (SIGNOFF_MAX_ARTIFACT_BYTES); Infinity when there is no cap. */
  readonly maxBytes: number;
  /** The directory of one stage run on this host: the stage writes `out/` and `stage.log` there. */
  runDir(job: number, stage: string, run: number): string;
  /**
   * Makes a finished run's files readable by every process and returns them as they are to be
   * recorded. Resolves only once the contents are stored, so a reported output always has them.
   */
  keep(job: number, files: ArtifactFile[]): Promise<ArtifactFile[]>;
  /** The run is over (succeeded, failed or cancelled): scratch files on this host may go. */
  release(runDir: string): Promise<void>;
  /** Removes stored contents no artifact names, kept longer than `graceMs` (none for local files); how many went. */
  sweep(graceMs: number): Promise<number>;
}
