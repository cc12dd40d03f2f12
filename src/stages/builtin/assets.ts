/**
 * Builtin `assets` stage: one small SVG "title card" per scene of `script.md`, in the same
 * colours as the storyboard panel, plus `assets.json` listing each card with its size and
 * sha256. Files are written flat into the output directory (`card-01.svg`, …) because every
 * file there becomes an artifact named after the file.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StageError, type StageAdapter } from '../types.js';
import { colourFor, escapeXml, parseSections, readInputText, revisionNote, sha256, titleFromBrief, truncate } from './util.js';

/** One entry of `assets.json`. */
export interface AssetEntry {
  name: string;
  scene: number;
  heading: string;
  size: number;
  sha256: string;
}

function card(scene: number, heading: string, title: string, revision: string | undefined): string {
  // Same colour seed as the storyboard panel, so a card is recognisably "its" panel.
  const { fill, stroke } = colourFor(`${scene - 1}:${heading}`);
  return [
    '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="180" viewBox="0 0 320 180" font-family="Helvetica, Arial, sans-serif">',
    `<rect width="320" height="180" rx="12" fill="${fill}" stroke="${stroke}" stroke-width="4"/>`,
    `<text x="20" y="40" font-size="13" fill="${stroke}">${escapeXml(truncate(title, 40))} · scene ${scene}</text>`,
    `<text x="20" y="100" font-size="17" font-weight="bold" fill="#222">${escapeXml(truncate(heading, 28))}</text>`,
    revision ? `<text x="20" y="160" font-size="10" font-style="italic" fill="#b03a2e">${escapeXml(truncate(revision, 52))}</text>` : '',
    '</svg>',
    '',
  ]
    .filter((line, i, all) => line !== '' || i === all.length - 1)
    .join('\n');
}

/** Writes `card-NN.svg` per scene and the `assets.json` manifest. */
export const assets: StageAdapter = async (ctx) => {
  const { sections } = parseSections(await readInputText(ctx, 'script.md'));
  if (sections.length === 0) throw new StageError('script.md has no scenes to make cards for', 'invalid');
  const title = titleFromBrief(ctx.brief);
  const revision = revisionNote(ctx);

  const entries: AssetEntry[] = [];
  for (const [i, section] of sections.entries()) {
    const name = `card-${String(i + 1).padStart(2, '0')}.svg`;
    const body = Buffer.from(card(i + 1, section.heading, title, revision), 'utf8');
    await writeFile(join(ctx.outputDir, name), body);
    entries.push({ name, scene: i + 1, heading: section.heading, size: body.length, sha256: sha256(body) });
  }
  const manifest = { title, ...(revision ? { revision } : {}), assets: entries };
  await writeFile(join(ctx.outputDir, 'assets.json'), `${JSON.stringify(manifest, null, 2)}\n`, 'utf8');

  return {
    summary: `Assets: ${entries.length} title cards${revision ? ' (revised)' : ''}`,
    outputs: { cards: entries.map((e) => e.name) },
  };
};
