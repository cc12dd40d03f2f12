/**
 * Builtin `render` stage: the end product of the demo. `final.html` is one self-contained page
 * (title, storyboard, narration, script) that opens from disk with no other files, and
 * `manifest.json` records every input artifact with its size and sha256 so a reviewer can
 * check exactly what went into it. Neither file holds paths, times or ids: reruns are identical.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StageAdapter } from '../types.js';
import { escapeXml, readInputText, requireInput, revisionNote, sha256, sha256File, titleFromBrief } from './util.js';

const STYLE = `body{font-family:Helvetica,Arial,sans-serif;max-width:980px;margin:2rem auto;padding:0 1rem;color:#222}
.note{color:#b03a2e;font-style:italic}.storyboard svg,.storyboard img{width:100%;height:auto}
.script p{line-height:1.5}audio{width:100%}`;

/**
 * Markup embedding an SVG. Our own storyboard is inlined as asked; anything that could run
 * script (a command stage may have produced the file) goes in an <img>, where it cannot.
 */
export function embedSvg(svg: string, alt: string): string {
  const body = svg.replace(/^\uFEFF?\s*(<\?xml[^>]*\?>\s*)?(<!DOCTYPE[^>]*>\s*)?/i, '');
  const risky = /<script|<foreignObject|\son[a-z]+\s*=|javascript:/i.test(body);
  if (body.startsWith('<svg') && !risky) return body.trimEnd();
  return `<img alt="${escapeXml(alt)}" src="data:image/svg+xml;base64,${Buffer.from(svg, 'utf8').toString('base64')}">`;
}

/** The demo's script markdown as HTML: headings, narration paragraphs and notes, all escaped. */
export function scriptHtml(markdown: string): string {
  const out: string[] = [];
  for (const line of markdown.split(/\r?\n/)) {
    const text = line.trim();
    if (text === '' || text.startsWith('# ')) continue; // the page title already says it
    if (text.startsWith('## ')) out.push(`<h3>${escapeXml(text.slice(3))}</h3>`);
    else if (text.startsWith('>')) out.push(`<p class="note">${escapeXml(text.replace(/^>\s*/, ''))}</p>`);
    else out.push(`<p>${escapeXml(text)}</p>`);
  }
  return out.join('\n');
}

/** Writes `final.html` and `manifest.json` from the script, storyboard and narration. */
export const render: StageAdapter = async (ctx) => {
  const title = titleFromBrief(ctx.brief);
  const revision = revisionNote(ctx);
  const script = await readInputText(ctx, 'script.md');
  const svg = await readInputText(ctx, 'storyboard.svg');
  const wav = await readFile(requireInput(ctx, 'narration.wav').path);

  const html = [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeXml(title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    `<h1>${escapeXml(title)}</h1>`,
    revision ? `<p class="note">${escapeXml(revision)}</p>` : '',
    `<section class="storyboard">\n${embedSvg(svg, `Storyboard: ${title}`)}\n</section>`,
    '<section class="narration">',
    '<h2>Narration</h2>',
    `<audio controls src="data:audio/wav;base64,${wav.toString('base64')}"></audio>`,
    '</section>',
    `<section class="script">\n<h2>Script</h2>\n${scriptHtml(script)}\n</section>`,
    '</body>',
    '</html>',
    '',
  ]
    .filter((line, i, all) => line !== '' || i === all.length - 1)
    .join('\n');
  const htmlBytes = Buffer.from(html, 'utf8');
  await writeFile(join(ctx.outputDir, 'final.html'), htmlBytes);

  const inputs = [];
  for (const input of ctx.inputs) {
    // Size from disk, not from the record: the manifest vouches for the bytes actually used.
    const { size } = await stat(input.path);
    inputs.push({ stage: input.stage, name: input.name, size, sha256: await sha256File(input.path) });
  }
  const manifest = {
    title,
    ...(revision ? { revision } : {}),
    inputs,
    outputs: [{ name: 'final.html', size: htmlBytes.length, sha256: sha256(htmlBytes) }],
  };
  await writeFile(join(ctx.outputDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`, 'utf8');

  return {
    summary: `Rendered final.html (${Math.round(htmlBytes.length / 1024)} KB) from ${inputs.length} artifacts${revision ? ' (revised)' : ''}`,
    outputs: { bytes: htmlBytes.length, inputs: inputs.length },
  };
};
