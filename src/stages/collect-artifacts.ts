/**
 * After a stage succeeds, every file it left in its output directory becomes an artifact:
 * named by its path relative to that directory, with size, media type and sha256.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { ArtifactFile } from '../orchestrator/types.js';
import { StageError } from './types.js';

const MEDIA_TYPES: Record<string, string> = {
  '.md': 'text/markdown; charset=utf-8', '.txt': 'text/plain; charset=utf-8', '.log': 'text/plain; charset=utf-8',
  '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg',
  '.gif': 'image/gif', '.webp': 'image/webp', '.wav': 'audio/wav', '.mp3': 'audio/mpeg', '.ogg': 'audio/ogg',
  '.html': 'text/html; charset=utf-8', '.pdf': 'application/pdf', '.csv': 'text/csv; charset=utf-8',
  '.gz': 'application/gzip', '.tgz': 'application/gzip', '.tar': 'application/x-tar', '.zip': 'application/zip',
  '.mp4': 'video/mp4', '.yaml': 'text/yaml; charset=utf-8', '.yml': 'text/yaml; charset=utf-8',
};

export function mediaTypeOf(name: string): string {
  return MEDIA_TYPES[path.extname(name).toLowerCase()] ?? 'application/octet-stream';
}

export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

async function describe(stage: string, run: number, name: string, file: string, maxBytes: number): Promise<ArtifactFile> {
  const stat = await fs.stat(file);
  // Checked before hashing: a file past the cap is refused without reading it.
  if (stat.size > maxBytes)
    throw new StageError(`The output "${name}" is ${mib(stat.size)} (${stat.size} bytes), more than SIGNOFF_MAX_ARTIFACT_BYTES allows (${mib(maxBytes)}, ${maxBytes} bytes). Make the output smaller, or raise SIGNOFF_MAX_ARTIFACT_BYTES.`, 'too_large');
  return { stage, run, name, path: file, size: stat.size, mediaType: mediaTypeOf(name), sha256: await sha256File(file) };
}

/**
 * Artifacts for the regular files under `outputDir` (links are not followed), plus a non-empty log.
 * A file larger than `maxBytes` rejects with a `too_large` StageError naming it.
 */
export async function collectArtifacts(stage: string, run: number, outputDir: string, logPath: string, maxBytes = Infinity): Promise<ArtifactFile[]> {
  const found: ArtifactFile[] = [];
  const entries = await fs.readdir(outputDir, { recursive: true, withFileTypes: true }).catch(() => []);
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    found.push(await describe(stage, run, path.relative(outputDir, file).split(path.sep).join('/'), file, maxBytes));
  }
  found.sort((a, b) => a.name.localeCompare(b.name));
  const log = await fs.stat(logPath).catch(() => undefined);
  if (log && log.size > 0) found.push(await describe(stage, run, `${stage}.log`, logPath, maxBytes));
  return found;
}
