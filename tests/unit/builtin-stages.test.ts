/**
 * The builtin demo stages, run in order the way the orchestrator would: each stage gets the
 * files of the earlier ones as inputs. Assertions are about what a person would notice in the
 * artifacts (titles, panels, a playable WAV, a page that embeds everything).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { builtinStages, runBuiltin } from '../../src/stages/builtin/index.js';
import { StageError, type InputArtifact, type StageContext } from '../../src/stages/types.js';

const STAGES = ['outline', 'script', 'storyboard', 'assets', 'audio', 'render'] as const;
const BRIEF = 'Budget travel in Japan\nA short explainer on rail passes, hostels and cheap food in Japan.';
const NASTY = `Tips & tricks: <script>&"it's" alert(1)</script>\nWhy escaping matters for every renderer.`;

const roots: string[] = [];
afterAll(() => roots.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function tempRoot(): string {
  const dir = mkdtempSync(join(tmpdir(), 'signoff-builtin-'));
  roots.push(dir);
  return dir;
}

function context(root: string, stageId: string, over: Partial<StageContext> = {}): StageContext {
  const outputDir = join(root, stageId);
  mkdirSync(outputDir, { recursive: true });
  return {
    jobId: 1,
    pipeline: 'demo',
    stageId,
    attempt: 1,
    brief: BRIEF,
    params: {},
    submitter: 'console:alice',
    outputDir,
    logPath: join(root, `${stageId}.log`),
    inputs: [],
    signal: new AbortController().signal,
    progress: () => {},
    log: pino({ level: 'silent' }),
    ...over,
  };
}

/** Runs all six stages; returns each stage's output dir, summaries and the final input list. */
async function runDemo(brief: string, redoReason?: string) {
  const root = tempRoot();
  const inputs: InputArtifact[] = [];
  const summaries: Record<string, string | undefined> = {};
  for (const stage of STAGES) {
    const ctx = context(root, stage, { brief, inputs: [...inputs], ...(redoReason ? { redoReason } : {}) });
    summaries[stage] = (await builtinStages[stage]!(ctx)).summary;
    for (const name of readdirSync(ctx.outputDir).sort()) {
      const path = join(ctx.outputDir, name);
      inputs.push({ id: inputs.length + 1, stage, name, path, size: statSync(path).size });
    }
  }
  const file = (stage: string, name: string) => readFileSync(join(root, stage, name));
  const text = (stage: string, name: string) => file(stage, name).toString('utf8');
  return { root, inputs, summaries, file, text };
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** A small well-formedness check: every tag closes in order (enough for our generated SVG). */
function tagsBalance(xml: string): boolean {
  const stack: string[] = [];
  for (const [, close, name, selfClose] of xml.matchAll(/<(\/?)([a-zA-Z][\w:-]*)(?:\s[^>]*?)?(\/?)>/g)) {
    if (selfClose) continue;
    if (!close) stack.push(name!);
    else if (stack.pop() !== name) return false;
  }
  return stack.length === 0;
}

describe('builtin demo stages', () => {
  it('writes an outline titled after the brief with 4-6 numbered sections', async () => {
    const { text, summaries } = await runDemo(BRIEF);
    const outline = text('outline', 'outline.md');
    expect(outline.startsWith('# Budget travel in Japan\n')).toBe(true);
    const sections = outline.match(/^## \d+\. .+$/gm) ?? [];
    expect(sections.length).toBeGreaterThanOrEqual(4);
    expect(sections.length).toBeLessThanOrEqual(6);
    expect(summaries.outline).toBe(`Outline: ${sections.length} sections`);
    // One narrated scene per section, in the script.
    const script = text('script', 'script.md');
    expect(script.match(/^## Scene \d+: /gm)).toHaveLength(sections.length);
    expect(script.match(/^NARRATOR: /gm)).toHaveLength(sections.length);
  });

  it('draws a standalone SVG with one panel per section and escapes the brief', async () => {
    const { root, text } = await runDemo(NASTY);
    const sections = (text('outline', 'outline.md').match(/^## /gm) ?? []).length;
    const svg = text('storyboard', 'storyboard.svg');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('xmlns="http://www.w3.org/2000/svg"');
    expect(svg).toMatch(/width="960" height="540" viewBox="0 0 960 540"/);
    expect(svg.match(/<g class="panel"/g)).toHaveLength(sections);
    expect(svg).toContain('&lt;script&gt;&amp;&quot;it&#39;s&quot;');
    expect(svg).not.toContain('<script');
    expect(tagsBalance(svg)).toBe(true);
    const manifest = JSON.parse(text('assets', 'assets.json')) as { assets: { name: string; sha256: string; size: number }[] };
    expect(manifest.assets).toHaveLength(sections);
    for (const card of manifest.assets) {
      const bytes = readFileSync(join(root, 'assets', card.name));
      expect({ sha: sha256(bytes), size: bytes.length }).toEqual({ sha: card.sha256, size: card.size });
    }
  });

  it('synthesizes a valid, short, non-silent 16 kHz mono 16-bit WAV', async () => {
    const { file } = await runDemo(BRIEF);
    const wav = file('audio', 'narration.wav');
    expect(wav.toString('ascii', 0, 4)).toBe('RIFF');
    expect(wav.readUInt32LE(4)).toBe(wav.length - 8);
    expect(wav.toString('ascii', 8, 16)).toBe('WAVEfmt ');
    expect(wav.readUInt16LE(20)).toBe(1); // PCM
    expect(wav.readUInt16LE(22)).toBe(1); // mono
    expect(wav.readUInt32LE(24)).toBe(16_000);
    expect(wav.readUInt32LE(28)).toBe(32_000);
    expect(wav.readUInt16LE(34)).toBe(16);
    expect(wav.toString('ascii', 36, 40)).toBe('data');
    expect(wav.readUInt32LE(40)).toBe(wav.length - 44);
    const seconds = (wav.length - 44) / 32_000;
    expect(seconds).toBeGreaterThan(1);
    expect(seconds).toBeLessThanOrEqual(4);
    expect(wav.length).toBeLessThan(200_000);
    let peak = 0;
    for (let i = 44; i < wav.length; i += 2) peak = Math.max(peak, Math.abs(wav.readInt16LE(i)));
    expect(peak).toBeGreaterThan(5_000);
  });

  it('renders a self-contained page and a manifest of every input', async () => {
    const { text, file, inputs } = await runDemo(NASTY);
    const html = text('render', 'final.html');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<h1>Tips &amp; tricks: &lt;script&gt;');
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain(text('storyboard', 'storyboard.svg').trimEnd());
    const audio = /src="data:audio\/wav;base64,([A-Za-z0-9+/=]+)"/.exec(html);
    expect(Buffer.from(audio![1]!, 'base64').equals(file('audio', 'narration.wav'))).toBe(true);

    const manifest = JSON.parse(text('render', 'manifest.json')) as { inputs: unknown[] };
    const renderInputs = inputs.filter((a) => a.stage !== 'render');
    expect(manifest.inputs).toEqual(
      renderInputs.map((a) => ({ stage: a.stage, name: a.name, size: a.size, sha256: sha256(readFileSync(a.path)) })),
    );
  });

  it('gives byte-identical artifacts for the same brief', async () => {
    const first = await runDemo(BRIEF);
    const second = await runDemo(BRIEF);
    expect(second.inputs.map((a) => `${a.stage}/${a.name}`)).toEqual(first.inputs.map((a) => `${a.stage}/${a.name}`));
    for (const a of first.inputs) expect(second.file(a.stage, a.name).equals(first.file(a.stage, a.name))).toBe(true);
    expect(second.summaries).toEqual(first.summaries);
  });

  it('shows the redo reason in the revised artifacts', async () => {
    const reason = 'Too dry & too long; add a joke';
    const plain = await runDemo(BRIEF);
    const redo = await runDemo(BRIEF, reason);
    expect(redo.text('outline', 'outline.md')).toContain(`Revised after review: ${reason}`);
    expect(redo.text('script', 'script.md')).toContain(`Revised after review: ${reason}`);
    expect(redo.text('storyboard', 'storyboard.svg')).toContain('Revised after review: Too dry &amp; too long; add a joke');
    expect(redo.text('render', 'final.html')).toContain('Revised after review: Too dry &amp; too long; add a joke');
    expect(redo.summaries.outline).toMatch(/\(revised\)$/);
    expect(redo.file('audio', 'narration.wav').equals(plain.file('audio', 'narration.wav'))).toBe(false);
    expect(plain.text('outline', 'outline.md')).not.toContain('Revised after review');
  });

  it.each(['script', 'storyboard', 'assets', 'audio', 'render'])('%s without its inputs fails as invalid', async (stage) => {
    const error = await builtinStages[stage]!(context(tempRoot(), stage)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StageError);
    expect(error).toMatchObject({ code: 'invalid', message: expect.stringMatching(/needs \S+\.(md|svg|wav) from an earlier stage/) });
  });
});

describe('runBuiltin', () => {
  it('knows only the six builtins', () => {
    expect(Object.keys(builtinStages).sort()).toEqual([...STAGES].sort());
    expect(runBuiltin('nope', undefined)).toBeUndefined();
    expect(runBuiltin('toString', undefined)).toBeUndefined();
  });

  it('reports progress while pretending to work, then does the work', async () => {
    const messages: string[] = [];
    const ctx = context(tempRoot(), 'outline', { progress: (m) => messages.push(m) });
    const outcome = await runBuiltin('outline', 40)!(ctx);
    expect(messages.length).toBeGreaterThanOrEqual(2);
    expect(messages.length).toBeLessThanOrEqual(4);
    expect(outcome.summary).toMatch(/^Outline: \d sections$/);
    expect(readdirSync(ctx.outputDir)).toEqual(['outline.md']);
  });

  /**
   * Runs the outline builtin with a 5 s pretend delay and aborts right after its first progress
   * report: in a microtask, so the abort lands while the stage is already waiting on its timer.
   */
  async function abortAtFirstProgress() {
    const controller = new AbortController();
    const messages: string[] = [];
    const ctx = context(tempRoot(), 'outline', {
      signal: controller.signal,
      progress: (m) => {
        messages.push(m);
        queueMicrotask(() => controller.abort());
      },
    });
    const error = await runBuiltin('outline', 5_000)!(ctx).catch((e: unknown) => e);
    return { error, messages, files: readdirSync(ctx.outputDir) };
  }

  it('rejects promptly with "cancelled" when aborted', async () => {
    const started = Date.now();
    const { error, messages, files } = await abortAtFirstProgress();
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(error).toBeInstanceOf(StageError);
    expect(error).toMatchObject({ code: 'cancelled' });
    expect(messages).toHaveLength(1);
    expect(files).toEqual([]);
  });

  it('leaves no timer behind when aborted', async () => {
    // Fake timers only to count pending ones; the abort itself needs no time to pass.
    vi.useFakeTimers();
    try {
      const { error } = await abortAtFirstProgress();
      expect(error).toMatchObject({ code: 'cancelled' });
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('refuses to start when already cancelled', async () => {
    const controller = new AbortController();
    controller.abort();
    const ctx = context(tempRoot(), 'outline', { signal: controller.signal });
    await expect(runBuiltin('outline', undefined)!(ctx)).rejects.toMatchObject({ code: 'cancelled' });
  });
});
