/**
 * The neutral view of what changed since the rejected round, for a round-N gate card: the
 * counts, a short excerpt, and the full `.diff` text that goes into the thread. Plain text;
 * each surface escapes it for its own format.
 */
import { diffExcerpt, diffFileName, diffSummary, TOO_LARGE, unifiedDiff, type ExcerptLine } from '../../review/diff-text.js';
import type { RoundDiff } from '../../review/round-diff.js';

export interface RoundDiffView {
  round: number;
  previousRound: number;
  /** `+12 −5 lines in script.md; storyboard.svg changed; audio.wav unchanged` */
  summary: string;
  /** The first changed lines (`@` lines name a file). */
  excerpt: ExcerptLine[];
  /** Lines were left out of the excerpt (the `.diff` file has them all). */
  more: boolean;
  /** Some text diff was over the caps: the reader should open the files. */
  tooLarge: boolean;
  tooLargeText: string;
  /** The `.diff` file: its name in the thread, a title unique in the thread, and its text. */
  file: { name: string; title: string; text: string };
  /** Images that changed, by artifact id, for before/after previews. */
  images: { name: string; before: number | null; after: number | null }[];
}

export function roundDiffView(diff: RoundDiff, opts: { excerptLines?: number; excerptChars?: number } = {}): RoundDiffView {
  const { lines, more } = diffExcerpt(diff, opts.excerptLines, opts.excerptChars);
  return {
    round: diff.round,
    previousRound: diff.previousRound,
    summary: diffSummary(diff),
    excerpt: lines,
    more,
    tooLarge: diff.tooLarge,
    tooLargeText: TOO_LARGE,
    file: { name: diffFileName(diff), title: `${diff.stage}: changes in round ${diff.round} since round ${diff.previousRound}`, text: unifiedDiff(diff) },
    images: diff.files
      .filter((f) => f.kind === 'image' && f.status !== 'unchanged')
      .map((f) => ({ name: f.name, before: f.before?.artifactId ?? null, after: f.after?.artifactId ?? null })),
  };
}

/** The excerpt as diff-style lines: `+ added`, `- removed`, `  context`, `@@ file`. */
export function excerptText(view: Pick<RoundDiffView, 'excerpt' | 'more'>): string {
  const body = view.excerpt.map((l) => (l.op === '@' ? `@@ ${l.text}` : `${l.op} ${l.text}`));
  if (view.more) body.push('… (the full diff is in the thread)');
  return body.join('\n');
}
