/**
 * Artifact contents in PostgreSQL (see ./contents.ts), the default on PostgreSQL: a worker on any
 * host stores a run's files in the database before the run's success is reported, and any replica
 * streams them back a chunk at a time. The stage still writes to a scratch run directory on its
 * own host, dropped when the run is over. Artifacts recorded before contents moved into the
 * database (a data directory copied by an older `signoff migrate`) keep a file path, and are read
 * from that file as before.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ArtifactFile } from '../orchestrator/types.js';
import { CHUNK_BYTES, type ArtifactContentStatements } from '../store/postgres/artifact-contents.js';
import type { ArtifactContents, ByteRange, StoredArtifact } from './contents.js';
import { localArtifacts } from './local.js';

const PREFIX = 'postgres:';

/** The contents id an artifact's path names, or undefined for a path on disk. */
export function contentsId(artifactPath: string): number | undefined {
  if (!artifactPath.startsWith(PREFIX)) return undefined;
  const id = Number(artifactPath.slice(PREFIX.length));
  return Number.isSafeInteger(id) && id > 0 ? id : undefined;
}

/** A file read CHUNK_BYTES at a time, every chunk full but the last (ranges are found by arithmetic). */
export async function* chunksOf(file: string, expected: number): AsyncGenerator<Buffer> {
  const fh = await fs.open(file, 'r');
  try {
    let total = 0;
    for (;;) {
      const buf = Buffer.alloc(CHUNK_BYTES);
      let filled = 0;
      while (filled < CHUNK_BYTES) {
        const { bytesRead } = await fh.read(buf, filled, CHUNK_BYTES - filled, total + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      total += filled;
      if (filled > 0) yield filled === CHUNK_BYTES ? buf : buf.subarray(0, filled);
      if (filled < CHUNK_BYTES) break;
    }
    if (total !== expected) throw new Error(`${path.basename(file)} changed while it was being stored (${expected} bytes when collected, ${total} read)`);
  } finally {
    await fh.close();
  }
}

export interface PgContentsOptions {
  statements: ArtifactContentStatements;
  /** Scratch run directories of this process (`<dataDir>/artifacts`). */
  scratchRoot: string;
  /** Copies and previews this process keeps to hand to chat libraries (`<dataDir>/cache`). */
  cacheRoot: string;
  maxBytes: number;
  now?: () => number;
}

export class PgContents implements ArtifactContents {
  readonly kind = 'postgres' as const;
  readonly maxBytes: number;

  constructor(private readonly o: PgContentsOptions) {
    this.maxBytes = o.maxBytes;
  }

  runDir(job: number, stage: string, run: number): string {
    return path.resolve(this.o.scratchRoot, String(job), stage, `run-${run}`);
  }

  async keep(job: number, files: ArtifactFile[]): Promise<ArtifactFile[]> {
    const kept: ArtifactFile[] = [];
    const at = (this.o.now ?? Date.now)();
    for (const f of files) {
      const id = await this.o.statements.put(job, f.size, chunksOf(f.path, f.size), at);
      kept.push({ ...f, path: `${PREFIX}${id}` });
    }
    return kept;
  }

  async release(runDir: string): Promise<void> {
    // Its files are in the database (or the run failed): a worker's disk must not fill with copies.
    await fs.rm(runDir, { recursive: true, force: true });
  }

  async sweep(graceMs: number): Promise<number> {
    return this.o.statements.sweepOrphans((this.o.now ?? Date.now)() - graceMs);
  }

  async has(a: StoredArtifact): Promise<boolean> {
    const id = contentsId(a.path);
    return id === undefined ? localArtifacts.has(a) : (await this.o.statements.size(id)) !== undefined;
  }

  async stream(a: StoredArtifact, range?: ByteRange): Promise<Readable> {
    const id = contentsId(a.path);
    if (id === undefined) return localArtifacts.stream(a, range);
    const start = range?.start ?? 0;
    const end = Math.min(range?.end ?? a.size - 1, a.size - 1);
    const { statements } = this.o;
    const first = Math.floor(start / CHUNK_BYTES);
    const last = Math.floor(end / CHUNK_BYTES);
    const fetch = (n: number) => {
      const from = n === first ? start % CHUNK_BYTES : 0;
      const to = n === last ? end % CHUNK_BYTES : CHUNK_BYTES - 1;
      const pending = statements.chunk(id, n, from, to - from + 1);
      // A reader that goes away early leaves the chunk fetched ahead unawaited: never an unhandled rejection.
      pending.catch(() => undefined);
      return pending;
    };
    async function* pieces(): AsyncGenerator<Buffer> {
      if (end < start) return;
      // One chunk is fetched ahead while the previous one is sent: at most two in memory.
      let ahead = fetch(first);
      for (let n = first; n <= last; n++) {
        const piece = await ahead;
        if (n < last) ahead = fetch(n + 1);
        if (!piece) throw new Error(`chunk ${n} of artifact ${a.id}'s contents is missing from the database`);
        yield piece;
      }
    }
    // Pulled as the client reads: a download never holds the whole file.
    return Readable.from(pieces(), { objectMode: false });
  }

  async read(a: StoredArtifact, maxBytes = Infinity): Promise<Buffer> {
    if (contentsId(a.path) === undefined) return localArtifacts.read(a, maxBytes);
    const parts: Buffer[] = [];
    for await (const part of await this.stream(a, { start: 0, end: Math.min(a.size, maxBytes) - 1 })) parts.push(part as Buffer);
    return Buffer.concat(parts);
  }

  async localFile(a: StoredArtifact): Promise<string> {
    if (contentsId(a.path) === undefined) return localArtifacts.localFile(a);
    const file = path.join(this.o.cacheRoot, 'files', String(a.id), path.posix.basename(a.name));
    const found = await fs.stat(file).catch(() => undefined);
    if (found?.size === a.size) return file;
    // Written whole, then renamed: another caller never finds half a file.
    await fs.mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${randomUUID()}.tmp`;
    await pipeline(await this.stream(a), createWriteStream(tmp));
    await fs.rename(tmp, file);
    return file;
  }

  previewPath(a: Pick<StoredArtifact, 'id' | 'name' | 'path'>): string {
    return contentsId(a.path) === undefined ? localArtifacts.previewPath(a) : path.join(this.o.cacheRoot, 'previews', `${a.id}.png`);
  }
}
