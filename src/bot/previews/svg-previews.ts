/**
 * PNG previews of SVG artifacts, for chat: neither Slack nor Discord shows an SVG, so a gate that
 * reviews one shows a PNG drawn from it by resvg (@resvg/resvg-js).
 *
 * Each preview is drawn once per artifact and kept next to the run's output (`<run>/previews/`,
 * outside `out/`, so it never becomes an artifact itself; or in this process's cache when the
 * contents are kept in PostgreSQL); a retry or a restart reuses the file,
 * so every surface and every attempt shows the same bytes. Drawing happens in a child process
 * (render-child.ts), one SVG at a time, killed after a timeout; the event loop only waits for it
 * (the demo storyboard took 70–85 ms in all, the longest pause of the loop meanwhile a few ms).
 * Anything that goes wrong — a refused or broken SVG, a slow one, a missing native binary —
 * means no preview, logged once, never a failed delivery or stage.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Artifact } from '../../store/store.js';
import type { ArtifactReader } from '../../artifacts/contents.js';
import { localArtifacts } from '../../artifacts/local.js';
import { renderInChild } from './render-child.js';
import { checkSvg, pngSize, PREVIEW_LIMITS, type PreviewLimits } from './svg-check.js';

/** A PNG drawn from an SVG artifact. */
export interface Preview {
  /** The SVG artifact it shows. */
  artifactId: number;
  path: string;
  /** A file name for chat, e.g. `storyboard-preview.png`. */
  name: string;
  width: number;
  height: number;
}

export interface SvgPreviewOptions {
  log: Logger;
  /** Where the SVGs are read from and where their previews are kept (default: local files, SQLite's way). */
  contents?: ArtifactReader;
  limits?: PreviewLimits;
  /** How long to wait for one drawing (default 10 s). */
  timeoutMs?: number;
}

const SVG = 'image/svg+xml';
/** Previews being found or drawn in this process, by file. */
const drawing = new Map<string, Promise<Preview>>();
/** Drawings run one after another, whichever surface asked: at most one core draws. */
let queue: Promise<unknown> = Promise.resolve();

export class SvgPreviews {
  private readonly limits: PreviewLimits;
  private readonly timeoutMs: number;
  private readonly contents: ArtifactReader;
  /** Artifacts that got no preview in this process: they are not tried (or logged) again. */
  private readonly refused = new Set<number>();

  constructor(private readonly o: SvgPreviewOptions) {
    this.limits = o.limits ?? PREVIEW_LIMITS;
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.contents = o.contents ?? localArtifacts;
  }

  /** Whether `artifact` is an SVG, which chat cannot show without a preview. */
  static wants(artifact: Pick<Artifact, 'mediaType'>): boolean {
    return artifact.mediaType === SVG;
  }

  /** The PNG preview of an SVG artifact (drawn now or found from before), or null when there is none. */
  async of(artifact: Artifact): Promise<Preview | null> {
    if (!SvgPreviews.wants(artifact) || this.refused.has(artifact.id)) return null;
    const file = this.contents.previewPath(artifact);
    // Slack and Discord may want the same preview at once: it is drawn once for both.
    let pending = drawing.get(file);
    if (!pending) {
      pending = this.findOrDraw(artifact, file).finally(() => drawing.delete(file));
      drawing.set(file, pending);
    }
    try {
      return await pending;
    } catch (err) {
      this.refused.add(artifact.id);
      this.o.log.warn({ artifact: artifact.id, name: artifact.name, reason: (err as Error).message }, 'no chat preview for this SVG artifact');
      return null;
    }
  }

  private async findOrDraw(artifact: Artifact, file: string): Promise<Preview> {
    const name = previewName(artifact);
    const found = await fs.readFile(file).catch(() => undefined);
    const size = found && pngSize(found);
    if (size) return { artifactId: artifact.id, path: file, name, ...size };
    const drawn = await this.draw(artifact);
    // Written whole, then renamed: a crash never leaves half a PNG to be found later.
    await fs.mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${randomUUID()}.tmp`;
    await fs.writeFile(tmp, drawn.png);
    await fs.rename(tmp, file);
    return { artifactId: artifact.id, path: file, name, width: drawn.width, height: drawn.height };
  }

  private async draw(artifact: Artifact): Promise<{ png: Buffer; width: number; height: number }> {
    if (artifact.size > this.limits.maxSvgBytes) throw new Error(`it is larger than ${this.limits.maxSvgBytes} bytes`);
    const svg = (await this.contents.read(artifact, this.limits.maxSvgBytes)).toString('utf8');
    const check = checkSvg(svg, this.limits);
    if (!check.ok) throw new Error(check.reason);
    const options = {
      fitTo: { mode: 'zoom' as const, value: check.zoom },
      // A white sheet: a transparent SVG drawn for a dark chat theme is unreadable otherwise.
      background: 'white',
      // System fonts only; no font files or directories named by the SVG or anyone else.
      font: { loadSystemFonts: true },
      logLevel: 'off' as const,
    };
    // One drawing at a time; the timeout counts from when this one starts, not while it waits.
    const rendering = queue.then(() => {
      const started = performance.now();
      return renderInChild(svg, options, this.timeoutMs).then((png) => ({ png, ms: Math.round(performance.now() - started) }));
    });
    queue = rendering.catch(() => undefined);
    const { png, ms } = await rendering;
    const size = pngSize(png);
    if (!size) throw new Error('resvg did not make a PNG');
    // The zoom was worked out from the root element; resvg has the last word on the size.
    const { width, height } = size;
    if (width > this.limits.maxSide + 1 || height > this.limits.maxSide + 1 || width * height > this.limits.maxPixels * 1.01)
      throw new Error(`it was drawn ${width}×${height}, larger than allowed`);
    this.o.log.debug({ artifact: artifact.id, width, height, ms }, 'SVG preview drawn');
    return { png, width, height };
  }
}

/** The preview's file name in chat: `storyboard.svg` → `storyboard-preview.png`. */
export function previewName(artifact: Pick<Artifact, 'name'>): string {
  return `${path.posix.basename(artifact.name).replace(/\.svg$/i, '') || 'image'}-preview.png`;
}

/**
 * `<run>/previews/<id>.png` for an artifact kept as a local file at `<run>/out/<name>`: beside the
 * stage's output, never inside it. Named by the artifact id, so each artifact has its own. (Contents
 * kept elsewhere have their previews where their `ArtifactReader.previewPath` says.)
 */
export function previewPath(artifact: Pick<Artifact, 'id' | 'name' | 'path'>): string {
  return localArtifacts.previewPath(artifact);
}
