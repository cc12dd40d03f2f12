/**
 * Serves an artifact to the API and the console alike, from wherever its contents are kept
 * (src/artifacts), streamed a piece at a time. One byte range (`Range: bytes=a-b`, `a-`, `-n`)
 * is answered with 206, so a browser can seek in audio or video; several ranges get the whole file.
 */
import type { FastifyReply } from 'fastify';
import type { Artifact } from '../store/store.js';
import type { ArtifactReader, ByteRange } from '../artifacts/contents.js';

/** Media a browser may show in place; everything else downloads. */
export function showsInline(mediaType: string): boolean {
  return /^(image|audio)\//.test(mediaType) || mediaType.startsWith('text/plain') || mediaType.startsWith('text/markdown');
}

/** The one range a `Range` header asks of `size` bytes; undefined for the whole file, 'unsatisfiable' past the end. */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined | 'unsatisfiable' {
  const m = header && /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    // A suffix: the last n bytes.
    const n = Number(m[2]);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

export async function sendArtifact(reply: FastifyReply, contents: ArtifactReader, a: Artifact, disposition: 'inline' | 'attachment', rangeHeader?: string) {
  // A row whose contents are gone (a file removed from the data directory, or written on another
  // host before contents were shared) is a clear 410, not a stream that fails half-way.
  if (!(await contents.has(a)))
    return reply.code(410).send({ error: 'gone', message: `The contents of artifact ${a.id} (${a.name}) are no longer where signoff keeps them (removed from the data directory, or written by a process on another host). Run its stage again to make it anew.` });
  const filename = a.name.split('/').pop()!.replace(/[^\w.-]/g, '_');
  const range = parseRange(rangeHeader, a.size);
  reply
    .header('content-type', a.mediaType)
    .header('accept-ranges', 'bytes')
    .header('content-disposition', `${disposition}; filename="${filename}"`)
    // An artifact is untrusted content: never let it run script in signoff's origin.
    .header('content-security-policy', "default-src 'none'; img-src 'self' data:; media-src 'self' data:; style-src 'unsafe-inline'; sandbox");
  if (range === 'unsatisfiable') return reply.code(416).header('content-range', `bytes */${a.size}`).send();
  if (!range) return reply.header('content-length', a.size).send(await contents.stream(a));
  return reply
    .code(206)
    .header('content-range', `bytes ${range.start}-${range.end}/${a.size}`)
    .header('content-length', range.end - range.start + 1)
    .send(await contents.stream(a, range));
}
