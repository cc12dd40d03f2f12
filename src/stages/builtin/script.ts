/**
 * Builtin `script` stage: reads `outline.md` and writes `script.md`, one scene per outline
 * section with a few narration lines. Lines are picked by hashing the section, so the script is
 * as deterministic as the outline it comes from.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StageError, type StageAdapter } from '../types.js';
import { hash32, parseSections, readInputText, revisionNote } from './util.js';

// `{h}` is the section heading in lower case; openers lead into it, closers hand over.
const OPENERS = [
  'Let us talk about {h}.',
  'Here is the part about {h}.',
  'Picture this: {h}.',
  'Next up, {h}.',
  'Stay with me for {h}.',
];
const CLOSERS = [
  'Keep that in mind for what comes next.',
  'It is simpler than it sounds.',
  'That is the heart of it.',
  'Hold on to that thought.',
  'And that changes everything that follows.',
];

/** Writes `script.md` from the outline of an earlier stage. */
export const script: StageAdapter = async (ctx) => {
  const { title, sections } = parseSections(await readInputText(ctx, 'outline.md'));
  if (sections.length === 0) {
    throw new StageError('outline.md has no "## " sections, so there is nothing to script', 'invalid');
  }
  const revision = revisionNote(ctx);
  const lines = [`# Script: ${title || 'Untitled'}`, ''];
  if (revision) lines.push(`> ${revision}`, '');

  let words = 0;
  sections.forEach((section, i) => {
    // The reason takes part in the seed so a redo rewords the narration, not just the note.
    const seed = hash32(`${i}\n${section.heading}\n${revision ?? ''}`);
    const heading = section.heading.toLowerCase();
    const narration = [
      OPENERS[seed % OPENERS.length]!.replace('{h}', heading),
      section.body.split('\n')[0] || 'There is more to say here than time allows.',
      CLOSERS[(seed >>> 8) % CLOSERS.length]!,
    ].join(' ');
    words += narration.split(/\s+/).length;
    lines.push(`## Scene ${i + 1}: ${section.heading}`, '', `NARRATOR: ${narration}`, '');
  });
  await writeFile(join(ctx.outputDir, 'script.md'), lines.join('\n'), 'utf8');

  return {
    summary: `Script: ${sections.length} scenes, ${words} words${revision ? ' (revised)' : ''}`,
    outputs: { scenes: sections.length, words },
  };
};
