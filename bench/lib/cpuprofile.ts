/**
 * Reads V8 `.cpuprofile` files (from `node --cpu-prof`) and says where the time went: the
 * functions with the most self time, and inclusive time grouped by where the code lives (our
 * src/, each npm package, Node's internals, native/GC).
 */
import fs from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Where a frame's code lives: `src/...`, `pkg:<name>`, `node:<module>`, or `(native)`. */
function place(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return `pkg:${nm[1]}`;
  const src = /\/(src|dist|bench|tests)\/(.*)$/.exec(url);
  if (src) return `${src[1]}/${src[2]}`;
  if (url.startsWith('node:')) return url;
  return path.basename(url);
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** The part of the profile summarised, in ms from its start (a `.window.json` next to it). */
  window: { fromMs: number; toMs: number } | undefined;
  self: { frame: string; ms: number }[];
  byPlace: { place: string; ms: number }[];
  /** Inclusive time of our own functions (src/ or dist/). */
  ours: { frame: string; ms: number }[];
}

/** Where a bench wants a profile read: ms after the process started (written next to the profile). */
export function writeWindow(profile: string, window: { fromMs: number; toMs: number }): void {
  fs.writeFileSync(profile.replace(/\.cpuprofile$/, '.window.json'), JSON.stringify(window));
}

export function summarise(file: string, top = 15): ProfileSummary {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const windowFile = file.replace(/\.cpuprofile$/, '.window.json');
  const window = fs.existsSync(windowFile) ? (JSON.parse(fs.readFileSync(windowFile, 'utf8')) as { fromMs: number; toMs: number }) : undefined;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const ours = new Map<string, number>();
  let total = 0;
  let at = 0;
  p.samples.forEach((id, i) => {
    const dt = (p.timeDeltas[i] ?? 0) / 1000;
    at += dt;
    if (window && (at < window.fromMs || at > window.toMs)) return;
    total += dt;
    const leaf = byId.get(id)!;
    const f = leaf.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${place(f.url, f.functionName)}${f.url ? `:${f.lineNumber + 1}` : ''}`;
    self.set(key, (self.get(key) ?? 0) + dt);
    // Inclusive by place: each place counted once per sample, however deep it recurs.
    const seen = new Set<string>();
    const mine = new Set<string>();
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const cf = byId.get(n)!.callFrame;
      if (cf.functionName === '(root)') continue;
      const where = place(cf.url, cf.functionName);
      seen.add(where);
      if (/^(src|dist)\//.test(where)) mine.add(`${cf.functionName || '(anonymous)'} ${where}:${cf.lineNumber + 1}`);
    }
    for (const s of seen) inclusive.set(s, (inclusive.get(s) ?? 0) + dt);
    for (const s of mine) ours.set(s, (ours.get(s) ?? 0) + dt);
  });
  const sorted = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1]);
  return {
    file,
    totalMs: total,
    window,
    self: sorted(self).slice(0, top).map(([frame, ms]) => ({ frame, ms })),
    byPlace: sorted(inclusive).slice(0, top).map(([place, ms]) => ({ place, ms })),
    ours: sorted(ours).slice(0, top).map(([frame, ms]) => ({ frame, ms })),
  };
}

export function formatSummary(s: ProfileSummary): string {
  const pct = (ms: number) => `${((100 * ms) / s.totalMs).toFixed(1).padStart(5)}%`;
  return [
    `${path.basename(s.file)}: ${(s.totalMs / 1000).toFixed(1)} s sampled${s.window ? ` (from ${Math.round(s.window.fromMs)} to ${Math.round(s.window.toMs)} ms after start: the measured part)` : ''}`,
    '  self time:',
    ...s.self.map((f) => `    ${pct(f.ms)}  ${f.frame}`),
    '  inclusive time by place:',
    ...s.byPlace.map((f) => `    ${pct(f.ms)}  ${f.place}`),
    '  inclusive time of signoff\'s own functions:',
    ...s.ours.map((f) => `    ${pct(f.ms)}  ${f.frame}`),
  ].join('\n');
}

/** Summaries of every profile in a directory. */
export function summariseProfiles(dir: string): string {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort();
  return files.map((f) => formatSummary(summarise(path.join(dir, f)))).join('\n\n');
}

// `npx tsx bench/lib/cpuprofile.ts FILE…` summarises profiles made by hand.
if (import.meta.url === `file://${process.argv[1]}`) {
  for (const f of process.argv.slice(2)) process.stdout.write(`${formatSummary(summarise(f, 25))}\n\n`);
}
