/**
 * Artifact contents as files under one directory (see ./contents.ts): the data directory's
 * `artifacts/` on SQLite, exactly as signoff has always kept them, or SIGNOFF_ARTIFACTS_DIR on
 * PostgreSQL. Nothing is copied: `keep` records the files where the stage left them.
 */
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { ArtifactFile } from '../orchestrator/types.js';
import type { ArtifactContents, ByteRange, StoredArtifact } from './contents.js';

export class LocalContents implements ArtifactContents {
  readonly kind = 'local' as const;

  /** `root` holds `<job>/<stage>/run-N/`; `maxBytes` caps one output (Infinity: no cap, SQLite's way). */
  constructor(readonly root: string, readonly maxBytes = Infinity) {}

  runDir(job: number, stage: string, run: number): string {
    return path.resolve(this.root, String(job), stage, `run-${run}`);
  }

  async keep(_job: number, files: ArtifactFile[]): Promise<ArtifactFile[]> {
    return files;
  }

  async release(): Promise<void> {
    // The run directory is where the artifacts live: it stays.
  }

  async sweep(): Promise<number> {
    // A run whose report lost stays in its own run directory, as it always has.
    return 0;
  }

  async has(a: StoredArtifact): Promise<boolean> {
    return fs.access(a.path).then(() => true, () => false);
  }

  async stream(a: StoredArtifact, range?: ByteRange): Promise<Readable> {
    return createReadStream(a.path, range ? { start: range.start, end: range.end } : {});
  }

  async read(a: StoredArtifact, maxBytes = Infinity): Promise<Buffer> {
    if (maxBytes >= a.size) return fs.readFile(a.path);
    const fh = await fs.open(a.path, 'r');
    try {
      const buf = Buffer.alloc(maxBytes);
      const { bytesRead } = await fh.read(buf, 0, maxBytes, 0);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  }

  async localFile(a: StoredArtifact): Promise<string> {
    return a.path;
  }

  /** `<run>/previews/<id>.png` for an artifact at `<run>/out/<name>`: beside the output, never inside it. */
  previewPath(a: Pick<StoredArtifact, 'id' | 'name' | 'path'>): string {
    const outDir = a.path.endsWith(a.name) ? a.path.slice(0, -a.name.length) : path.dirname(a.path);
    return path.join(path.dirname(path.resolve(outDir)), 'previews', `${a.id}.png`);
  }
}

/** Reads artifacts that are local files (the default of readers not told otherwise). */
export const localArtifacts = new LocalContents('');
