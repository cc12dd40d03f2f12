/**
 * What signoff checks before it lets resvg draw an SVG that a stage wrote. A command or HTTP
 * stage's SVG is untrusted input, and resvg-js 2.6.2 has no option to switch off resources: an
 * `<image href="/some/file.png">` (absolute, or relative to the working directory) is read from
 * disk and drawn (seen here; `file://` and `http(s)://` hrefs are not loaded, and an SVG embedded
 * as a data URI may itself load nothing). So an SVG is drawn only when every `href` in it points
 * inside the document (`#id`) or is an embedded PNG of bounded size; a DOCTYPE (entities could
 * build markup the check does not see) means no preview either. The size of the picture comes
 * from the root element, so the renderer can be told how big to draw before it allocates pixels.
 * Pure functions only.
 */

/** Bounds on what is drawn: the SVG's bytes, and the pixels of the PNG made from it. */
export interface PreviewLimits {
  /** Larger SVG files get no preview. */
  maxSvgBytes: number;
  /** The preview's longer side at most this many pixels (it is scaled down to fit). */
  maxSide: number;
  /** The preview's area at most this many pixels (it is scaled down to fit). */
  maxPixels: number;
}

export const PREVIEW_LIMITS: PreviewLimits = { maxSvgBytes: 1024 * 1024, maxSide: 1600, maxPixels: 1_500_000 };

/** An embedded PNG larger than this (in pixels) is refused: resvg decodes it whole. */
const MAX_EMBEDDED_PIXELS = 4_000_000;

export type SvgCheck = { ok: true; width: number; height: number; zoom: number } | { ok: false; reason: string };

/** CSS absolute units in px, as SVG defines them (96 per inch). */
const UNIT_PX: Record<string, number> = { '': 1, px: 1, pt: 96 / 72, pc: 16, mm: 96 / 25.4, cm: 96 / 2.54, in: 96 };

/** A length in px, or undefined for a missing, relative (%, em) or bad one. */
function absoluteLength(value: string | undefined): number | undefined {
  const m = value === undefined ? null : /^\s*([+]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)\s*(px|pt|pc|mm|cm|in)?\s*$/i.exec(value);
  if (!m) return undefined;
  const px = Number(m[1]) * UNIT_PX[(m[2] ?? '').toLowerCase()]!;
  return Number.isFinite(px) && px > 0 ? px : undefined;
}

function attribute(attrs: string, name: string): string | undefined {
  const m = new RegExp(`(?:^|\\s)${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`).exec(attrs);
  return m ? (m[1] ?? m[2]) : undefined;
}

/** Width and height of a PNG from its header, or undefined when the bytes are not a PNG. */
export function pngSize(bytes: Buffer): { width: number; height: number } | undefined {
  const signature = '89504e470d0a1a0a';
  if (bytes.length < 24 || bytes.subarray(0, 8).toString('hex') !== signature || bytes.subarray(12, 16).toString('latin1') !== 'IHDR') return undefined;
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

/** Why an href may not be drawn, or undefined when it may. */
function hrefProblem(value: string): string | undefined {
  if (value.startsWith('#')) return undefined;
  const data = /^data:image\/png;base64,([A-Za-z0-9+/=\s]*)$/.exec(value);
  if (!data) return `it refers to something outside itself (href="${value.slice(0, 60)}")`;
  const size = pngSize(Buffer.from(data[1]!.slice(0, 64).replace(/\s/g, ''), 'base64'));
  if (!size) return 'it embeds an image that is not a PNG';
  if (size.width * size.height > MAX_EMBEDDED_PIXELS) return `it embeds a ${size.width}×${size.height} PNG (more than ${MAX_EMBEDDED_PIXELS} pixels)`;
  return undefined;
}

/**
 * Whether `svg` may be drawn, and if so its size and the zoom that fits `limits` (never above 1:
 * a preview is the picture as drawn, or smaller).
 */
export function checkSvg(svg: string, limits: PreviewLimits = PREVIEW_LIMITS): SvgCheck {
  if (Buffer.byteLength(svg) > limits.maxSvgBytes) return { ok: false, reason: `it is larger than ${limits.maxSvgBytes} bytes` };
  if (/<!DOCTYPE|<!ENTITY/i.test(svg)) return { ok: false, reason: 'it has a DOCTYPE' };
  for (const m of svg.matchAll(/href\s*=\s*(?:"([^"]*)"|'([^']*)')/gi)) {
    const problem = hrefProblem(m[1] ?? m[2] ?? '');
    if (problem) return { ok: false, reason: problem };
  }
  const root = /<svg\b((?:[^>"']|"[^"]*"|'[^']*')*)>/.exec(svg);
  if (!root) return { ok: false, reason: 'it has no <svg> element' };
  const attrs = root[1]!;
  const box = attribute(attrs, 'viewBox')?.trim().split(/[\s,]+/).map(Number);
  const vb = box?.length === 4 && box.every(Number.isFinite) && box[2]! > 0 && box[3]! > 0 ? { w: box[2]!, h: box[3]! } : undefined;
  let width = absoluteLength(attribute(attrs, 'width'));
  let height = absoluteLength(attribute(attrs, 'height'));
  // As resvg does: a missing or relative side follows the viewBox (its aspect when the other side is set).
  if (vb) {
    if (width === undefined && height === undefined) [width, height] = [vb.w, vb.h];
    else if (width === undefined) width = (height! * vb.w) / vb.h;
    else if (height === undefined) height = (width * vb.h) / vb.w;
  }
  if (width === undefined || height === undefined) return { ok: false, reason: 'its size is not known (no width and height in px, no viewBox)' };
  const zoom = Math.min(1, limits.maxSide / width, limits.maxSide / height, Math.sqrt(limits.maxPixels / (width * height)));
  if (width * zoom < 1 || height * zoom < 1) return { ok: false, reason: `its shape (${width}×${height}) is too thin to draw` };
  return { ok: true, width, height, zoom };
}
