/** The beginning of text artifacts, shown with the gate that reviews them on every surface. */
import type { Artifact } from '../../store/store.js';
import type { ArtifactReader } from '../../artifacts/contents.js';

export async function textExcerpts(contents: ArtifactReader, files: Artifact[], maxChars: number, maxFiles = 3): Promise<{ name: string; text: string }[]> {
  const texts = files.filter((f) => /^(text\/|application\/json)/.test(f.mediaType) && f.size > 0).slice(0, maxFiles);
  const excerpts = await Promise.all(
    texts.map(async (f) => {
      try {
        // Read a few bytes more than needed: characters can take up to 4 bytes.
        const buf = await contents.read(f, maxChars * 4);
        return [{ name: f.name, text: buf.toString('utf8').replace(/\uFFFD+$/, '').slice(0, maxChars) }];
      } catch {
        return [];
      }
    }),
  );
  return excerpts.flat();
}
