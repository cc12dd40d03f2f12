/**
 * A round diff as plain text: the one-line counts a card shows, a short excerpt of changed lines,
 * and the full unified diff that goes into the thread as a `.diff` file. Pure; surfaces escape.
 */
import type { FileDiff, RoundDiff } from './round-diff.js';

/** What a reader is told when the diff, or part of it, was over the caps. */
export const TOO_LARGE = 'diff too large, see the files';

function fileSummary(f: FileDiff): string {
  if (f.status === 'added') return `${f.name} added`;
  if (f.status === 'removed') return `${f.name} removed`;
  if (f.status === 'unchanged') return `${f.name} unchanged`;
  if (f.kind === 'text' && !f.tooLarge) return `+${f.added} −${f.removed} lines in ${f.name}`;
  if (f.kind === 'text') return `${f.name} changed (${TOO_LARGE})`;
  return `${f.name} changed`;
}

/**
 * `+12 −5 lines in script.md; storyboard.svg changed; audio.wav unchanged`. Changes come first;
 * past `maxParts` the rest is counted, so a stage with a hundred files still gives one line.
 */
export function diffSummary(diff: RoundDiff, maxParts = 8): string {
  if (!diff.files.length) return `No files in round ${diff.previousRound} or round ${diff.round}.`;
  const order = (f: FileDiff) => (f.status === 'unchanged' ? 1 : 0);
  const files = [...diff.files].sort((a, b) => order(a) - order(b));
  const parts = files.slice(0, maxParts).map(fileSummary);
  const rest = files.length - parts.length;
  if (rest > 0) parts.push(`${rest} more file${rest === 1 ? '' : 's'}`);
  return parts.join('; ');
}

/** One line of an excerpt: `@` starts a file's section. */
export interface ExcerptLine { op: '+' | '-' | ' ' | '@'; text: string }

/**
 * The first changed lines of the text files (with one line of context around each change),
 * at most `maxLines` lines and about `maxChars` characters; `more` says lines were left out.
 */
export function diffExcerpt(diff: RoundDiff, maxLines = 12, maxChars = 900): { lines: ExcerptLine[]; more: boolean } {
  const lines: ExcerptLine[] = [];
  let chars = 0;
  let more = false;
  const push = (l: ExcerptLine) => {
    const text = l.text.length > 160 ? `${l.text.slice(0, 159)}…` : l.text;
    if (lines.length >= maxLines || chars + text.length + 2 > maxChars) {
      more = true;
      return false;
    }
    lines.push({ op: l.op, text });
    chars += text.length + 2;
    return true;
  };
  for (const f of diff.files) {
    if (!f.hunks.length) continue;
    if (!push({ op: '@', text: f.name })) break;
    for (const h of f.hunks) {
      const changed = h.lines.map((l, i) => (l.op !== ' ' ? i : -1)).filter((i) => i >= 0);
      // Context lines next to a change help a reader place it; the rest is skipped.
      const keep = h.lines.filter((l, i) => l.op !== ' ' || changed.some((c) => Math.abs(c - i) <= 1));
      for (const l of keep) if (!push({ op: l.op, text: l.text })) break;
      if (more) break;
    }
    if (more) break;
  }
  return { lines, more };
}

const sizeText = (n: number) => (n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1024 / 1024).toFixed(1)} MB`);

/** The full diff as a unified patch a person can open, with a note line per non-text file. */
export function unifiedDiff(diff: RoundDiff): string {
  const out: string[] = [`# ${diff.stage}: round ${diff.previousRound} (run ${diff.previousRun}) → round ${diff.round} (run ${diff.run})`, `# ${diffSummary(diff, 1000)}`];
  for (const f of diff.files) {
    if (f.status === 'unchanged') continue;
    const a = f.before ? `a/${f.name}` : '/dev/null';
    const b = f.after ? `b/${f.name}` : '/dev/null';
    if (f.kind !== 'text' || f.tooLarge) {
      const sides = [f.before, f.after].map((s) => (s ? `${sizeText(s.size)}, sha256 ${s.sha256.slice(0, 12)}` : 'none'));
      out.push(`${f.kind === 'text' ? TOO_LARGE : `Binary files ${a} and ${b} differ`}: ${f.name} (${sides[0]} → ${sides[1]})`);
      continue;
    }
    out.push(`--- ${a}`, `+++ ${b}`);
    for (const h of f.hunks) {
      out.push(`@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@`);
      for (const l of h.lines) out.push(`${l.op}${l.text}`);
    }
  }
  return `${out.join('\n')}\n`;
}

/** The `.diff` file's name in a thread: unique per stage and round. */
export function diffFileName(diff: Pick<RoundDiff, 'stage' | 'round'>): string {
  return `${diff.stage}-round-${diff.round}.diff`;
}
