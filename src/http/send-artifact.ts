/** Serves an artifact file to the API and the console alike. */
import { createReadStream } from 'node:fs';
import type { FastifyReply } from 'fastify';
import type { Artifact } from '../store/store.js';

/** Media a browser may show in place; everything else downloads. */
export function showsInline(mediaType: string): boolean {
  return /^(image|audio)\//.test(mediaType) || mediaType.startsWith('text/plain') || mediaType.startsWith('text/markdown');
}

export function sendArtifact(reply: FastifyReply, a: Artifact, disposition: 'inline' | 'attachment') {
  const filename = a.name.split('/').pop()!.replace(/[^\w.-]/g, '_');
  return reply
    .header('content-type', a.mediaType)
    .header('content-length', a.size)
    .header('content-disposition', `${disposition}; filename="${filename}"`)
    // An artifact is untrusted content: never let it run script in signoff's origin.
    .header('content-security-policy', "default-src 'none'; img-src 'self' data:; media-src 'self' data:; style-src 'unsafe-inline'; sandbox")
    .send(createReadStream(a.path));
}
