/**
 * Builtin `outline` stage: turns the brief into `outline.md`, a title plus 4–6 numbered
 * sections. The sections are chosen from templates with a generator seeded by the brief (and the
 * redo reason), so the same job always gets the same outline and a redo visibly gets a new one.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StageAdapter } from '../types.js';
import { hash32, oneLine, revisionNote, seededRandom, titleFromBrief, truncate } from './util.js';

interface Template {
  heading: string;
  note: string;
}

// `{w}` is replaced by a keyword of the brief, `{W}` by the same keyword capitalised.
const OPENERS: Template[] = [
  { heading: 'Introducing {w}', note: 'Set the scene: what {w} is and who should care.' },
  { heading: 'Why {w} matters now', note: 'Open with the stakes, then promise a way through.' },
  { heading: 'A day without {w}', note: 'Start from a familiar frustration the audience has felt.' },
];
const MIDDLES: Template[] = [
  { heading: 'How {w} works', note: 'Walk through the moving parts, one at a time.' },
  { heading: 'The trouble with {w}', note: 'Name the common problem plainly, with one example.' },
  { heading: '{W} in practice', note: 'Show a concrete case from start to finish.' },
  { heading: 'A closer look at {w}', note: 'Zoom in on the detail that usually gets skipped.' },
  { heading: 'Myths about {w}', note: 'Correct two misconceptions, kindly.' },
  { heading: '{W} by the numbers', note: 'Give three figures that make the point memorable.' },
  { heading: 'Getting started with {w}', note: 'List the first three steps a newcomer takes.' },
  { heading: 'When {w} goes wrong', note: 'Tell a short failure story and what it taught.' },
];
const CLOSERS: Template[] = [
  { heading: 'What to do next about {w}', note: 'End with one clear action for the audience.' },
  { heading: 'Wrapping up {w}', note: 'Recap the key points in a sentence each.' },
  { heading: 'The future of {w}', note: 'Close on where this is heading and why it is hopeful.' },
];

// Words too common to say anything about the topic.
const STOPWORDS = new Set(
  'about above after again also because been before being between both could does doing during each from have having here into just more most much only other over same should some such than that their them then there these they this those through under until very were what when where which while will with would your yours make like want need short long good great best quick simple small'.split(' '),
);

/**
 * The brief's distinctive words, most frequent first (ties: first appearance), names that are
 * always capitalised keep their capitals ("Japan", but "budget" even when it starts the brief).
 */
export function keywords(brief: string): string[] {
  const counts = new Map<string, { word: string; count: number }>();
  for (const word of brief.match(/[\p{L}\p{N}]+/gu) ?? []) {
    const key = word.toLowerCase();
    if ([...key].length < 4 || STOPWORDS.has(key)) continue;
    const entry = counts.get(key) ?? { word, count: 0 };
    // One lower-case use means the capital was only sentence-initial: not a name.
    if (word === key) entry.word = key;
    entry.count++;
    counts.set(key, entry);
  }
  // Map keeps insertion order, and Array#sort is stable, so ties stay in first-seen order.
  return [...counts.values()].sort((a, b) => b.count - a.count).map((e) => e.word);
}

function fill(template: string, word: string): string {
  return template.replaceAll('{W}', word.charAt(0).toUpperCase() + word.slice(1)).replaceAll('{w}', word);
}

/** Writes `outline.md` from the brief. */
export const outline: StageAdapter = async (ctx) => {
  const title = titleFromBrief(ctx.brief);
  const revision = revisionNote(ctx);
  const random = seededRandom(hash32(`${ctx.brief}\n${revision ?? ''}`));
  const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]!;

  const count = 4 + Math.floor(random() * 3);
  const middles = [...MIDDLES];
  // Fisher–Yates with the seeded generator: a fixed, brief-dependent order of middle sections.
  for (let i = middles.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [middles[i], middles[j]] = [middles[j]!, middles[i]!];
  }
  const chosen = [pick(OPENERS), ...middles.slice(0, count - 2), pick(CLOSERS)];
  const words = keywords(ctx.brief);
  if (words.length === 0) words.push('the idea');

  const lines = [`# ${title}`, ''];
  lines.push(`> Brief: ${truncate(oneLine(ctx.brief), 300) || '(empty)'}`);
  if (revision) lines.push('>', `> ${revision}`);
  lines.push('');
  chosen.forEach((template, i) => {
    const word = words[i % words.length]!;
    lines.push(`## ${i + 1}. ${fill(template.heading, word)}`, '', fill(template.note, word), '');
  });
  await writeFile(join(ctx.outputDir, 'outline.md'), lines.join('\n'), 'utf8');

  return {
    summary: `Outline: ${chosen.length} sections${revision ? ' (revised)' : ''}`,
    outputs: { title, sections: chosen.length, keywords: words.slice(0, 6) },
  };
};
