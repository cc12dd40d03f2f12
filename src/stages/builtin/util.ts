/**
 * Small helpers shared by the builtin demo stages. Everything here is deterministic on purpose:
 * the same brief (and redo reason) must give byte-identical artifacts, so "randomness" always
 * comes from a hash of the text, never from Math.random or the clock.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { StageError, type InputArtifact, type StageContext } from '../types.js';

/** FNV-1a 32-bit hash of a string: cheap, stable across runs and platforms. */
export function hash32(text: string, seed = 0): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (const byte of Buffer.from(text, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** A seeded pseudo-random generator (mulberry32) returning numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Escapes the five XML special characters; safe for SVG and HTML text and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => XML_ENTITIES[c]!);
}
// &#39; rather than &apos;: the latter is not understood by older HTML parsers.
const XML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Cuts text to at most `max` characters, ending with "…" when shortened (escape afterwards). */
export function truncate(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('').trimEnd()}…`;
}

/** Collapses all whitespace (newlines included) so user text fits on one line. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** The job's title: the first non-empty line of the brief, without markdown heading marks. */
export function titleFromBrief(brief: string): string {
  const first = brief.split(/\r?\n/).map((l) => oneLine(l.replace(/^#+\s*/, ''))).find((l) => l !== '');
  return truncate(first ?? 'Untitled', 80);
}

/** The "Revised after review" line, or undefined on a first run. */
export function revisionNote(ctx: Pick<StageContext, 'redoReason'>): string | undefined {
  const reason = ctx.redoReason === undefined ? '' : oneLine(ctx.redoReason);
  return reason === '' ? undefined : `Revised after review: ${truncate(reason, 200)}`;
}

/** Hex sha256 of a file's bytes. */
export async function sha256File(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

/** Hex sha256 of bytes or text held in memory. */
export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * The input artifact called `name`. Looked up by file name rather than stage id because a
 * config may give the stages other ids (or replace one with a command stage); the latest one
 * wins. Missing inputs mean the pipeline is wired wrongly, hence `invalid`.
 */
export function requireInput(ctx: StageContext, name: string): InputArtifact {
  const found = ctx.inputs.filter((a) => a.name === name).at(-1);
  if (found) return found;
  const have = ctx.inputs.map((a) => `${a.stage}/${a.name}`).join(', ') || 'none';
  throw new StageError(
    `${ctx.stageId} needs ${name} from an earlier stage, but none produced it (inputs: ${have})`,
    'invalid',
  );
}

/** Reads a required text input (see requireInput). */
export async function readInputText(ctx: StageContext, name: string): Promise<string> {
  return readFile(requireInput(ctx, name).path, 'utf8');
}

/** A titled section of one of the demo's markdown files (`## 1. Heading` + body lines). */
export interface Section {
  heading: string;
  body: string;
}

/**
 * Parses the markdown the demo stages write: `# Title`, then `## ` sections. Numbering such as
 * "1." or "Scene 1:" is stripped so outline and script sections read the same way; quoted
 * lines (`> …`, used for notes) are not part of a section's body.
 */
export function parseSections(markdown: string): { title: string; sections: Section[] } {
  let title = '';
  const sections: Section[] = [];
  for (const line of markdown.split(/\r?\n/)) {
    if (line.startsWith('# ') && title === '') title = line.slice(2).trim();
    else if (line.startsWith('## ')) {
      sections.push({ heading: line.slice(3).replace(/^(?:Scene\s+)?\d+[.:]\s*/, '').trim(), body: '' });
    } else if (sections.length > 0 && line.trim() !== '' && !line.startsWith('>')) {
      const last = sections[sections.length - 1]!;
      last.body = last.body === '' ? line.trim() : `${last.body}\n${line.trim()}`;
    }
  }
  return { title, sections };
}

/** A pleasant fill/stroke pair derived from text, as hex (works in every SVG viewer). */
export function colourFor(text: string): { fill: string; stroke: string } {
  const hue = hash32(text) % 360;
  return { fill: hslToHex(hue, 0.65, 0.85), stroke: hslToHex(hue, 0.45, 0.35) };
}

function hslToHex(h: number, s: number, l: number): string {
  const a = s * Math.min(l, 1 - l);
  const channel = (n: number) => {
    const k = (n + h / 30) % 12;
    const v = l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(v * 255).toString(16).padStart(2, '0');
  };
  return `#${channel(0)}${channel(8)}${channel(4)}`;
}
