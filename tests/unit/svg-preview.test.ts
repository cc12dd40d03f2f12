/**
 * PNG previews of SVG artifacts: what resvg is allowed to draw (an SVG from a command stage is
 * untrusted), the size of what it draws, and that a preview is drawn once and then found again.
 * The PNGs are real: made by resvg from the demo's storyboard, read back by their header.
 */
import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSvg, pngSize } from '../../src/bot/previews/svg-check.js';
import { previewName, previewPath, SvgPreviews } from '../../src/bot/previews/svg-previews.js';
import { builtinStages } from '../../src/stages/builtin/index.js';
import type { InputArtifact } from '../../src/stages/types.js';
import type { Artifact } from '../../src/store/store.js';
import { tempDir } from '../helpers/fixtures.js';

const roots: string[] = [];
afterAll(() => roots.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

/** A log that keeps its lines, to see what was said about a refused SVG. */
function recordingLog() {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { log, lines };
}

/** An artifact as the store has it, for a file written at `<run>/out/<name>`. */
function artifactFile(id: number, name: string, body: string | Buffer): Artifact {
  const run = tempDir('signoff-preview-');
  roots.push(run);
  const file = path.join(run, 'out', name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, body);
  return { id, job: 1, stage: 'board', run: 1, name, path: file, size: fs.statSync(file).size, mediaType: 'image/svg+xml', sha256: 'x', createdAt: 0 };
}

/** The demo's storyboard.svg, made by the builtin stages from a brief. */
async function demoStoryboard(): Promise<string> {
  const root = tempDir('signoff-demo-');
  roots.push(root);
  const inputs: InputArtifact[] = [];
  for (const stage of ['outline', 'script', 'storyboard']) {
    const outputDir = path.join(root, stage);
    fs.mkdirSync(outputDir);
    await builtinStages[stage]!({
      jobId: 1, pipeline: 'demo', stageId: stage, attempt: 1, brief: 'A two-minute film about bees', params: {}, submitter: 'console:alice',
      outputDir, logPath: path.join(root, `${stage}.log`), inputs: [...inputs], signal: new AbortController().signal, progress: () => {}, log: pino({ level: 'silent' }),
    });
    for (const name of fs.readdirSync(outputDir)) inputs.push({ id: inputs.length + 1, stage, name, path: path.join(outputDir, name), size: 0 });
  }
  return fs.readFileSync(path.join(root, 'storyboard', 'storyboard.svg'), 'utf8');
}

const svg = (attrs: string, body = '<rect width="10" height="10"/>') => `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" ${attrs}>${body}</svg>`;
/** A real 2×2 PNG, as a data URI. */
const TINY_PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAYAAABytg0kAAAAEUlEQVR4nGP8z8AARAwMcAYALAED/2WDsF0AAAAASUVORK5CYII=';

describe('checkSvg: what may be drawn', () => {
  it('takes the size from width and height (units converted) or the viewBox', () => {
    expect(checkSvg(svg('width="960" height="540"'))).toEqual({ ok: true, width: 960, height: 540, zoom: 1 });
    expect(checkSvg(svg('width="1in" height="72pt"'))).toMatchObject({ ok: true, width: 96, height: 96 });
    expect(checkSvg(svg('viewBox="0 0 400 300"'))).toMatchObject({ ok: true, width: 400, height: 300 });
    expect(checkSvg(svg('width="100%" viewBox="0 0 400 300"'))).toMatchObject({ ok: true, width: 400, height: 300 });
    expect(checkSvg(svg('width="800" viewBox="0 0 400 300"'))).toMatchObject({ ok: true, width: 800, height: 600 });
    expect(checkSvg(svg('width="50%"'))).toMatchObject({ ok: false, reason: expect.stringContaining('size is not known') });
  });

  it('scales a large picture down to 1600 px on its longer side and 1.5 million pixels', () => {
    const wide = checkSvg(svg('width="16000" height="900"'));
    expect(wide.ok && wide.zoom).toBeCloseTo(0.1);
    const square = checkSvg(svg('width="5000" height="5000"'));
    expect(square.ok && (5000 * square.zoom) ** 2).toBeCloseTo(1_500_000, -1);
    expect(checkSvg(svg('width="1" height="100000"'))).toMatchObject({ ok: false, reason: expect.stringContaining('too thin') });
  });

  it('refuses anything that points outside the document: files, URLs, entities; an embedded PNG is drawn', () => {
    const refused = [
      svg('width="10" height="10"', '<image href="/etc/signoff/secret.png" width="10" height="10"/>'),
      svg('width="10" height="10"', '<image xlink:href="secret.png" width="10" height="10"/>'),
      svg('width="10" height="10"', "<image href='file:///tmp/x.png'/>"),
      svg('width="10" height="10"', '<image href="https://example.com/x.png"/>'),
      svg('width="10" height="10"', '<image href="&#47;etc/x.png"/>'),
      svg('width="10" height="10"', `<image href="data:image/svg+xml;base64,${Buffer.from(svg('')).toString('base64')}"/>`),
      `<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY e "x">]>${svg('width="10" height="10"')}`,
      'not an svg at all',
    ];
    for (const text of refused) expect(checkSvg(text).ok, text).toBe(false);
    expect(checkSvg(svg('width="10" height="10"', `<defs><rect id="r" width="3" height="3"/></defs><use href="#r"/><image href="data:image/png;base64,${TINY_PNG}" width="2" height="2"/>`)).ok).toBe(true);
    expect(checkSvg('x'.repeat(2 * 1024 * 1024))).toMatchObject({ ok: false, reason: expect.stringContaining('larger than') });
  });
});

describe('SvgPreviews: a PNG drawn once per SVG artifact', () => {
  it("draws the demo storyboard as a real 960×540 PNG next to the run's output, and finds it again instead of drawing twice", async () => {
    const { log, lines } = recordingLog();
    const previews = new SvgPreviews({ log });
    const board = artifactFile(7, 'storyboard.svg', await demoStoryboard());
    const preview = (await previews.of(board))!;
    expect(preview).toMatchObject({ artifactId: 7, name: 'storyboard-preview.png', width: 960, height: 540 });
    expect(preview.path).toBe(path.join(path.dirname(path.dirname(board.path)), 'previews', '7.png'));
    expect(previewPath(board)).toBe(preview.path);
    expect(previewName(board)).toBe('storyboard-preview.png');
    // Outside `out/`: a preview never becomes an artifact of the stage.
    expect(fs.readdirSync(path.dirname(board.path))).toEqual(['storyboard.svg']);

    const png = fs.readFileSync(preview.path);
    expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    expect(pngSize(png)).toEqual({ width: 960, height: 540 });
    expect(png.length).toBeGreaterThan(5_000); // panels and text, not a blank sheet
    const drawn = lines.filter((l) => l.msg === 'SVG preview drawn');
    expect(drawn).toHaveLength(1);
    expect(drawn[0]).toMatchObject({ width: 960, height: 540, ms: expect.any(Number) });

    // A second process (a restart) finds the file: same bytes, nothing drawn.
    const again = await new SvgPreviews({ log }).of(board);
    expect(again).toEqual(preview);
    expect(fs.readFileSync(preview.path).equals(png)).toBe(true);
    expect(lines.filter((l) => l.msg === 'SVG preview drawn')).toHaveLength(1);
  });

  it('two surfaces asking at once get the same preview, drawn once', async () => {
    const { log, lines } = recordingLog();
    const board = artifactFile(10, 'board.svg', svg('width="300" height="200"', '<circle cx="150" cy="100" r="80" fill="orange"/>'));
    const [a, b] = await Promise.all([new SvgPreviews({ log }).of(board), new SvgPreviews({ log }).of(board)]);
    expect(a).toEqual(b);
    expect(pngSize(fs.readFileSync(a!.path))).toEqual({ width: 300, height: 200 });
    expect(lines.filter((l) => l.msg === 'SVG preview drawn')).toHaveLength(1);
    expect(fs.readdirSync(path.dirname(a!.path))).toEqual(['10.png']);
  });

  it('an SVG slower to draw than the timeout gets no preview: its drawing is stopped, not waited for', async () => {
    const { log, lines } = recordingLog();
    // 3 KB that keep resvg busy for about 13 s here: 40 large blurred circles.
    const blurred = Array.from({ length: 40 }, (_, i) => `<circle cx="${30 * i}" cy="600" r="500" fill="#abcdef" filter="url(#b)"/>`).join('');
    const slow = artifactFile(11, 'slow.svg', svg('width="1200" height="1200"', `<defs><filter id="b"><feGaussianBlur stdDeviation="80"/></filter></defs>${blurred}`));
    const started = Date.now();
    expect(await new SvgPreviews({ log, timeoutMs: 300 }).of(slow)).toBeNull();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(lines.find((l) => l.msg === 'no chat preview for this SVG artifact')).toMatchObject({ artifact: 11, reason: 'drawing it took longer than 300 ms' });
    expect(fs.existsSync(previewPath(slow))).toBe(false);
    // The next SVG is drawn at once: nothing is left running in front of it.
    const next = artifactFile(12, 'next.svg', svg('width="100" height="50"'));
    expect(await new SvgPreviews({ log }).of(next)).toMatchObject({ width: 100, height: 50 });
  });

  it('a large SVG is drawn scaled down to the limits', async () => {
    const previews = new SvgPreviews({ log: pino({ level: 'silent' }) });
    const wide = await previews.of(artifactFile(8, 'wide.svg', svg('width="4000" height="1000"', '<circle cx="2000" cy="500" r="400" fill="teal"/>')));
    expect(pngSize(fs.readFileSync(wide!.path))).toEqual({ width: 1600, height: 400 });
    const square = await previews.of(artifactFile(9, 'square.svg', svg('viewBox="0 0 5000 5000"', '<rect x="10" y="10" width="4000" height="4000" fill="navy"/>')));
    const size = pngSize(fs.readFileSync(square!.path))!;
    expect(size.width).toBe(size.height);
    expect(Math.abs(size.width * size.height - 1_500_000)).toBeLessThan(5_000);
  });

  it('a broken, hostile or oversized SVG gets no preview, said once in the log; nothing throws', async () => {
    const { log, lines } = recordingLog();
    const previews = new SvgPreviews({ log, limits: { maxSvgBytes: 4096, maxSide: 1600, maxPixels: 1_500_000 } });
    const secret = artifactFile(1, 'secret.png', Buffer.from(TINY_PNG, 'base64'));
    const cases = [
      artifactFile(2, 'broken.svg', '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect'),
      artifactFile(3, 'peek.svg', svg('width="10" height="10"', `<image href="${secret.path}" width="10" height="10"/>`)),
      artifactFile(4, 'big.svg', svg('width="10" height="10"', '<rect width="1" height="1"/>'.repeat(200))),
    ];
    for (const a of cases) {
      expect(await previews.of(a)).toBeNull();
      expect(await previews.of(a)).toBeNull();
      expect(fs.existsSync(previewPath(a))).toBe(false);
    }
    const said = lines.filter((l) => l.msg === 'no chat preview for this SVG artifact');
    expect(said.map((l) => l.artifact)).toEqual([2, 3, 4]);
    expect(String(said[1]!.reason)).toContain('refers to something outside itself');
    expect(String(said[2]!.reason)).toContain('larger than 4096 bytes');
    // Not an SVG: nothing to do, nothing said.
    expect(await previews.of({ ...secret, mediaType: 'image/png' })).toBeNull();
  });
});
