/**
 * The round diff, pure: what a reviewer of round 2 is shown about the files of round 1 and 2.
 * Line counts and changed words from jsdiff, added/removed/unchanged files, binaries by size and
 * sha256, images named before and after, and the caps with their "too large" answer.
 */
import { describe, expect, it } from 'vitest';
import { diffExcerpt, diffFileName, diffSummary, unifiedDiff } from '../../src/review/diff-text.js';
import { computeRoundDiff, DIFF_LIMITS, kindOf, type DiffSide } from '../../src/review/round-diff.js';

const at = { stage: 'script', round: 2, previousRound: 1, run: 2, previousRun: 1 };
let nextId = 1;
function file(name: string, mediaType: string, body: string | { size: number; sha: string }): DiffSide {
  const text = typeof body === 'string' ? body : undefined;
  const size = typeof body === 'string' ? Buffer.byteLength(body) : body.size;
  const sha = typeof body === 'string' ? `sha-of-${body}` : body.sha;
  return { artifactId: nextId++, name, mediaType, size, sha256: sha, ...(text !== undefined ? { text } : {}) };
}

const OLD = 'Title\nThe bees wake up.\nThey fly to the long, winding meadow.\nThe end comes slowly.\nCredits\n';
const NEW = 'Title\nThe bees wake up.\nThey fly to the meadow.\nThe end.\nCredits\n';

describe('computeRoundDiff', () => {
  it('counts changed lines of a text file and marks the changed words inside them', () => {
    const d = computeRoundDiff(at, [file('script.md', 'text/markdown', OLD)], [file('script.md', 'text/markdown', NEW)]);
    const [f] = d.files;
    expect(f).toMatchObject({ name: 'script.md', kind: 'text', status: 'changed', added: 2, removed: 2, tooLarge: false });
    const lines = f!.hunks.flatMap((h) => h.lines);
    const removed = lines.find((l) => l.op === '-' && l.text.includes('winding'))!;
    expect(removed.words!.filter((w) => w.op === '-').map((w) => w.text).join('')).toContain('long, winding');
    const added = lines.find((l) => l.op === '+' && l.text === 'They fly to the meadow.')!;
    expect(added.words!.every((w) => w.op !== '-')).toBe(true);
    expect(d.stats).toMatchObject({ added: 2, removed: 2, changed: 1 });
    expect(diffSummary(d)).toBe('+2 −2 lines in script.md');
  });

  it('names files added, removed and unchanged; compares binaries by sha256 and shows images before and after', () => {
    const before = [
      file('script.md', 'text/markdown', OLD), file('audio.wav', 'audio/wav', { size: 10, sha: 'a' }),
      file('storyboard.svg', 'image/svg+xml', { size: 5, sha: 'x' }), file('old.txt', 'text/plain', 'gone\n'),
    ];
    const after = [
      file('script.md', 'text/markdown', NEW), file('audio.wav', 'audio/wav', { size: 10, sha: 'a' }),
      file('storyboard.svg', 'image/svg+xml', { size: 6, sha: 'y' }), file('clip.bin', 'application/octet-stream', { size: 3, sha: 'b' }),
    ];
    const d = computeRoundDiff(at, before, after);
    const by = Object.fromEntries(d.files.map((f) => [f.name, f]));
    expect(by['audio.wav']).toMatchObject({ kind: 'binary', status: 'unchanged' });
    expect(by['storyboard.svg']).toMatchObject({ kind: 'image', status: 'changed', before: { size: 5, sha256: 'x' }, after: { size: 6, sha256: 'y' } });
    expect(by['clip.bin']).toMatchObject({ kind: 'binary', status: 'added', before: null });
    expect(by['old.txt']).toMatchObject({ kind: 'text', status: 'removed', removed: 1, after: null });
    expect(diffSummary(d)).toBe('clip.bin added; old.txt removed; +2 −2 lines in script.md; storyboard.svg changed; audio.wav unchanged');
    const patch = unifiedDiff(d);
    expect(patch).toContain('--- a/script.md\n+++ b/script.md\n@@ -1,5 +1,5 @@');
    expect(patch).toContain('-They fly to the long, winding meadow.\n-The end comes slowly.\n+They fly to the meadow.\n+The end.');
    expect(patch).toContain('Binary files a/storyboard.svg and b/storyboard.svg differ');
    expect(patch).toContain('--- a/old.txt\n+++ /dev/null');
    expect(patch).not.toContain('audio.wav (');
  });

  it('says a round with no text files changed only by name, size and checksum', () => {
    const d = computeRoundDiff(at, [file('a.bin', 'application/octet-stream', { size: 1, sha: 'p' })], [file('a.bin', 'application/octet-stream', { size: 2, sha: 'q' })]);
    expect(d.files[0]).toMatchObject({ status: 'changed', hunks: [], added: 0, removed: 0, tooLarge: false });
    expect(diffSummary(d)).toBe('a.bin changed');
    expect(diffExcerpt(d).lines).toEqual([]);
    expect(computeRoundDiff(at, [], []).files).toEqual([]);
    expect(diffSummary(computeRoundDiff(at, [], []))).toBe('No files in round 1 or round 2.');
  });

  it('leaves out a text file over the input cap, and lines over the output cap, and says so', () => {
    const big = 'x\n'.repeat(200_000);
    const d = computeRoundDiff(at, [file('big.txt', 'text/plain', big)], [file('big.txt', 'text/plain', `${big}y\n`)]);
    expect(d.files[0]).toMatchObject({ status: 'changed', tooLarge: true, hunks: [] });
    expect(d.tooLarge).toBe(true);
    expect(diffSummary(d)).toBe('big.txt changed (diff too large, see the files)');
    expect(unifiedDiff(d)).toContain('diff too large, see the files: big.txt');

    const many = Array.from({ length: 50 }, (_, i) => `line ${i}`).join('\n');
    const other = Array.from({ length: 50 }, (_, i) => `changed ${i}`).join('\n');
    const capped = computeRoundDiff(at, [file('a.txt', 'text/plain', many)], [file('a.txt', 'text/plain', other)], { ...DIFF_LIMITS, maxOutputLines: 20 });
    // The counts are still true; only the lines themselves are left out.
    expect(capped.files[0]).toMatchObject({ added: 50, removed: 50, tooLarge: true, hunks: [] });
    // Out of time (jsdiff is O(N·D)): the file is left out as too large instead of holding up signoff.
    const late = computeRoundDiff(at, [file('a.txt', 'text/plain', many)], [file('a.txt', 'text/plain', other)], { ...DIFF_LIMITS, timeoutMs: 0 });
    expect(late.files[0]).toMatchObject({ status: 'changed', tooLarge: true, hunks: [] });
  });

  it('keeps the card excerpt short and names each file', () => {
    const old = Array.from({ length: 40 }, (_, i) => `line ${i}`).join('\n');
    const now = Array.from({ length: 40 }, (_, i) => `edited ${i}`).join('\n');
    const d = computeRoundDiff(at, [file('s.md', 'text/markdown', old)], [file('s.md', 'text/markdown', now)]);
    const { lines, more } = diffExcerpt(d, 12, 900);
    expect(lines[0]).toEqual({ op: '@', text: 's.md' });
    expect(lines).toHaveLength(12);
    expect(more).toBe(true);
    expect(diffFileName(d)).toBe('script-round-2.diff');
  });

  it('reads media types as text, image or binary', () => {
    expect(['text/markdown', 'text/plain; charset=utf-8', 'application/json', 'application/vnd.api+json'].map(kindOf)).toEqual(['text', 'text', 'text', 'text']);
    expect(['image/png', 'image/svg+xml'].map(kindOf)).toEqual(['image', 'image']);
    expect(['audio/wav', 'application/octet-stream', 'application/pdf'].map(kindOf)).toEqual(['binary', 'binary', 'binary']);
  });
});
