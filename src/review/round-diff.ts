/**
 * What changed between two reviewed runs of a stage: pure, from the two runs' artifacts (with
 * the text of the text files already read). Text files get a line diff with word-level changes
 * inside changed lines, from jsdiff; other files are compared by size and sha256; images are
 * named before and after so a surface can show both. Everything is bounded: past the caps a
 * file (or the whole diff) is marked too large and people are pointed to the files instead.
 */
import { diffWordsWithSpace, structuredPatch } from 'diff';

/** One artifact of a reviewed run, as the diff needs it. */
export interface DiffSide {
  artifactId: number;
  name: string;
  mediaType: string;
  size: number;
  sha256: string;
  /** The file's text, when it is a text file no larger than the input cap and could be read. */
  text?: string;
}

export type LineOp = '+' | '-' | ' ';
/** A piece of a changed line: `op` says whether the words were added, removed or kept. */
export interface WordPart { op: LineOp; text: string }
export interface DiffLine {
  op: LineOp;
  text: string;
  /** For a changed line paired with its counterpart: which words changed. */
  words?: WordPart[];
}
export interface DiffHunk { oldStart: number; oldLines: number; newStart: number; newLines: number; lines: DiffLine[] }

export type FileKind = 'text' | 'image' | 'binary';
export type FileStatus = 'added' | 'removed' | 'changed' | 'unchanged';

export interface FileDiff {
  name: string;
  kind: FileKind;
  status: FileStatus;
  before: Omit<DiffSide, 'text'> | null;
  after: Omit<DiffSide, 'text'> | null;
  /** Lines added and removed (text files whose diff was computed). */
  added: number;
  removed: number;
  hunks: DiffHunk[];
  /** The text diff was not computed or not kept: the file (or the whole diff) is over a cap. */
  tooLarge: boolean;
}

export interface RoundDiff {
  stage: string;
  round: number;
  previousRound: number;
  run: number;
  previousRun: number;
  files: FileDiff[];
  stats: { added: number; removed: number; changed: number; filesAdded: number; filesRemoved: number; unchanged: number };
  /** Some text diff was left out because it was over a cap. */
  tooLarge: boolean;
}

/** The caps. Input: bytes of one text file read and diffed; output: diff lines kept in total. */
export interface DiffLimits {
  maxFileBytes: number;
  maxTotalBytes: number;
  maxOutputLines: number;
  /** Characters of diff lines kept in total (word-level parts count too). */
  maxOutputChars: number;
  /**
   * Time jsdiff may spend on all files together; past it a file's lines are left out as too
   * large. The diff runs on the event loop once per gate round, so this bounds how long it can
   * hold up everything else (jsdiff is O(N·D): 50 KB with half its lines changed took 210 ms here).
   */
  timeoutMs: number;
}

export const DIFF_LIMITS: DiffLimits = { maxFileBytes: 128 * 1024, maxTotalBytes: 512 * 1024, maxOutputLines: 2_000, maxOutputChars: 256 * 1024, timeoutMs: 250 };

const TEXT_TYPES = /^(text\/|application\/(json|xml|yaml|x-yaml|javascript|x-ndjson|toml|x-sh|sql)\b)|\+(json|xml)\b/;

/** Whether a media type is shown as a line diff (SVG is an image: shown before and after). */
export function kindOf(mediaType: string): FileKind {
  if (mediaType.startsWith('image/')) return 'image';
  return TEXT_TYPES.test(mediaType) ? 'text' : 'binary';
}

const meta = ({ text: _text, ...rest }: DiffSide): Omit<DiffSide, 'text'> => rest;

/** Pairs the i-th removed line of a block with its i-th added line and marks the changed words. */
function markWords(lines: DiffLine[]): void {
  for (let i = 0; i < lines.length; ) {
    if (lines[i]!.op !== '-') { i += 1; continue; }
    let j = i;
    while (j < lines.length && lines[j]!.op === '-') j += 1;
    let k = j;
    while (k < lines.length && lines[k]!.op === '+') k += 1;
    const pairs = Math.min(j - i, k - j);
    for (let p = 0; p < pairs; p += 1) {
      const old = lines[i + p]!;
      const now = lines[j + p]!;
      const parts = diffWordsWithSpace(old.text, now.text);
      old.words = parts.filter((c) => !c.added).map((c) => ({ op: c.removed ? '-' : ' ', text: c.value }));
      now.words = parts.filter((c) => !c.removed).map((c) => ({ op: c.added ? '+' : ' ', text: c.value }));
    }
    i = k;
  }
}

/** Hunks of a text change, or undefined when jsdiff gave up within the time cap. */
function textHunks(name: string, before: string, after: string, timeoutMs: number): DiffHunk[] | undefined {
  const patch = structuredPatch(name, name, before, after, undefined, undefined, { context: 3, timeout: timeoutMs });
  if (!patch) return undefined;
  return patch.hunks.map((h) => {
    const lines: DiffLine[] = h.lines
      // "\ No newline at end of file" is patch syntax, not content.
      .filter((l) => !l.startsWith('\\'))
      .map((l) => ({ op: l[0] as LineOp, text: l.slice(1) }));
    markWords(lines);
    return { oldStart: h.oldStart, oldLines: h.oldLines, newStart: h.newStart, newLines: h.newLines, lines };
  });
}

/**
 * Compares the artifacts of the run reviewed in `previousRound` (`before`) with those of the run
 * reviewed now (`after`), file by file, matched by name.
 */
export function computeRoundDiff(
  at: { stage: string; round: number; previousRound: number; run: number; previousRun: number },
  before: DiffSide[],
  after: DiffSide[],
  limits: DiffLimits = DIFF_LIMITS,
): RoundDiff {
  const names = [...new Set([...after.map((f) => f.name), ...before.map((f) => f.name)])].sort();
  const files: FileDiff[] = [];
  let inputLeft = limits.maxTotalBytes;
  let outputLeft = limits.maxOutputLines;
  let charsLeft = limits.maxOutputChars;
  const deadline = performance.now() + limits.timeoutMs;
  for (const name of names) {
    const old = before.find((f) => f.name === name);
    const now = after.find((f) => f.name === name);
    const kind = kindOf((now ?? old)!.mediaType);
    const status: FileStatus = !old ? 'added' : !now ? 'removed' : old.sha256 === now.sha256 && old.size === now.size ? 'unchanged' : 'changed';
    const file: FileDiff = { name, kind, status, before: old ? meta(old) : null, after: now ? meta(now) : null, added: 0, removed: 0, hunks: [], tooLarge: false };
    files.push(file);
    if (kind !== 'text' || status === 'unchanged') continue;
    const oldText = old ? old.text : '';
    const newText = now ? now.text : '';
    const bytes = (old?.size ?? 0) + (now?.size ?? 0);
    if (oldText === undefined || newText === undefined || bytes > inputLeft || (old?.size ?? 0) > limits.maxFileBytes || (now?.size ?? 0) > limits.maxFileBytes) {
      file.tooLarge = true;
      continue;
    }
    inputLeft -= bytes;
    const timeLeft = Math.floor(deadline - performance.now());
    const hunks = timeLeft > 0 ? textHunks(name, oldText, newText, timeLeft) : undefined;
    if (!hunks) {
      file.tooLarge = true;
      continue;
    }
    for (const h of hunks) for (const l of h.lines) {
      if (l.op === '+') file.added += 1;
      if (l.op === '-') file.removed += 1;
    }
    const lines = hunks.reduce((n, h) => n + h.lines.length, 0);
    const chars = hunks.reduce((n, h) => n + h.lines.reduce((m, l) => m + l.text.length * (l.words ? 2 : 1), 0), 0);
    // The counts stay (they are cheap and true); only the lines themselves are left out.
    if (lines > outputLeft || chars > charsLeft) file.tooLarge = true;
    else {
      file.hunks = hunks;
      outputLeft -= lines;
      charsLeft -= chars;
    }
  }
  const count = (s: FileStatus) => files.filter((f) => f.status === s).length;
  return {
    ...at,
    files,
    stats: {
      added: files.reduce((n, f) => n + f.added, 0),
      removed: files.reduce((n, f) => n + f.removed, 0),
      changed: count('changed'),
      filesAdded: count('added'),
      filesRemoved: count('removed'),
      unchanged: count('unchanged'),
    },
    tooLarge: files.some((f) => f.tooLarge),
  };
}
