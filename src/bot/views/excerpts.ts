/** The beginning of text artifacts, shown with the gate that reviews them on every surface. */
import fs from 'node:fs';
import type { Artifact } from '../../store/store.js';

export function textExcerpts(files: Artifact[], maxChars: number, maxFiles = 3): { name: string; text: string }[] {
  return files
    .filter((f) => /^(text\/|application\/json)/.test(f.mediaType) && f.size > 0)
    .slice(0, maxFiles)
    .flatMap((f) => {
      try {
        const fd = fs.openSync(f.path, 'r');
        try {
          // Read a few bytes more than needed: characters can take up to 4 bytes.
          const buf = Buffer.alloc(Math.min(f.size, maxChars * 4));
          const n = fs.readSync(fd, buf, 0, buf.length, 0);
          return [{ name: f.name, text: buf.subarray(0, n).toString('utf8').replace(/\uFFFD+$/, '').slice(0, maxChars) }];
        } finally {
          fs.closeSync(fd);
        }
      } catch {
        return [];
      }
    });
}
