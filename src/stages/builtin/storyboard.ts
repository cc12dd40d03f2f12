/**
 * Builtin `storyboard` stage: reads `script.md` and draws `storyboard.svg`, a 960×540 sheet
 * with one panel per scene. Colours and the little "shot" shape in each panel come from a
 * hash of the scene, so the drawing is stable; every piece of user text is XML-escaped.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { StageError, type StageAdapter } from '../types.js';
import { colourFor, escapeXml, hash32, parseSections, readInputText, revisionNote, titleFromBrief, truncate } from './util.js';

/** Size of the sheet; 16:9 like the video it pretends to plan. */
export const SHEET = { width: 960, height: 540 } as const;
const MARGIN = 20;
const GAP = 16;
const TOP = 64; // room for the title
const BOTTOM = 40; // room for the revision note

/** The first narration line of a scene without its speaker label. */
export function narrationOf(body: string): string {
  return (body.split('\n')[0] ?? '').replace(/^[A-Z]+:\s*/, '');
}

function shot(x: number, y: number, size: number, kind: number, colour: string): string {
  // Three pretend framings so panels do not all look alike: close-up, wide, over-the-shoulder.
  if (kind === 0) return `<circle cx="${x}" cy="${y}" r="${size / 2}" fill="${colour}" opacity="0.35"/>`;
  if (kind === 1) return `<rect x="${x - size}" y="${y - size / 3}" width="${size * 2}" height="${(size * 2) / 3}" rx="6" fill="${colour}" opacity="0.35"/>`;
  return `<path d="M${x - size / 2} ${y + size / 2} L${x} ${y - size / 2} L${x + size / 2} ${y + size / 2} Z" fill="${colour}" opacity="0.35"/>`;
}

/** Writes `storyboard.svg` from the script of an earlier stage. */
export const storyboard: StageAdapter = async (ctx) => {
  const { sections } = parseSections(await readInputText(ctx, 'script.md'));
  if (sections.length === 0) throw new StageError('script.md has no scenes to draw', 'invalid');
  const title = titleFromBrief(ctx.brief);
  const revision = revisionNote(ctx);

  const cols = sections.length <= 4 ? 2 : 3;
  const rows = Math.ceil(sections.length / cols);
  const w = (SHEET.width - 2 * MARGIN - (cols - 1) * GAP) / cols;
  const h = (SHEET.height - TOP - BOTTOM - (rows - 1) * GAP) / rows;

  const panels = sections.map((section, i) => {
    const x = MARGIN + (i % cols) * (w + GAP);
    const y = TOP + Math.floor(i / cols) * (h + GAP);
    const { fill, stroke } = colourFor(`${i}:${section.heading}`);
    const kind = hash32(section.heading) % 3;
    return [
      `<g class="panel" data-panel="${i + 1}">`,
      `<rect x="${x}" y="${y}" width="${w}" height="${h}" rx="10" fill="${fill}" stroke="${stroke}" stroke-width="2"/>`,
      shot(x + w / 2, y + h / 2 - 8, Math.min(w, h) / 3, kind, stroke),
      `<circle cx="${x + 22}" cy="${y + 22}" r="14" fill="${stroke}"/>`,
      `<text x="${x + 22}" y="${y + 27}" text-anchor="middle" font-size="14" font-weight="bold" fill="#fff">${i + 1}</text>`,
      `<text x="${x + 12}" y="${y + h - 30}" font-size="14" font-weight="bold" fill="#222">${escapeXml(truncate(section.heading, 30))}</text>`,
      `<text x="${x + 12}" y="${y + h - 12}" font-size="11" fill="#444">${escapeXml(truncate(narrationOf(section.body), 44))}</text>`,
      '</g>',
    ].join('\n');
  });

  const svg = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${SHEET.width}" height="${SHEET.height}" viewBox="0 0 ${SHEET.width} ${SHEET.height}" font-family="Helvetica, Arial, sans-serif">`,
    `<title>${escapeXml(`Storyboard: ${title}`)}</title>`,
    `<rect width="${SHEET.width}" height="${SHEET.height}" fill="#fafaf7"/>`,
    `<text x="${MARGIN}" y="40" font-size="24" font-weight="bold" fill="#222">${escapeXml(truncate(title, 60))}</text>`,
    ...panels,
    revision
      ? `<text class="revision" x="${MARGIN}" y="${SHEET.height - 14}" font-size="13" font-style="italic" fill="#b03a2e">${escapeXml(truncate(revision, 120))}</text>`
      : '',
    '</svg>',
    '',
  ].filter((line, i, all) => line !== '' || i === all.length - 1);
  await writeFile(join(ctx.outputDir, 'storyboard.svg'), svg.join('\n'), 'utf8');

  return {
    summary: `Storyboard: ${sections.length} panels${revision ? ' (revised)' : ''}`,
    outputs: { panels: sections.length },
  };
};
