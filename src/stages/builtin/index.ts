/**
 * The builtin stages of the bundled `demo` pipeline (outline → script → storyboard → assets →
 * audio → render), and the "pretend work time" wrapper that makes a demo visibly progress.
 * Config refers to them as `run: { builtin: NAME, delay: 3s }`.
 */
import { StageError, type StageAdapter, type StageContext } from '../types.js';
import { assets } from './assets.js';
import { audio } from './audio.js';
import { outline } from './outline.js';
import { render } from './render.js';
import { script } from './script.js';
import { storyboard } from './storyboard.js';

/** Every builtin stage by the name used in `run: { builtin: NAME }`. */
export const builtinStages: Record<string, StageAdapter> = { outline, script, storyboard, assets, audio, render };

// What each stage "is doing" while it pretends to work; shown in chat as progress.
const PHRASES: Record<string, string[]> = {
  outline: ['reading the brief', 'picking the sections', 'ordering the sections', 'writing outline.md'],
  script: ['reading the outline', 'drafting narration', 'tightening the wording', 'writing script.md'],
  storyboard: ['reading the script', 'sketching panels', 'choosing colours', 'writing storyboard.svg'],
  assets: ['reading the script', 'designing title cards', 'exporting cards', 'writing assets.json'],
  audio: ['reading the script', 'composing the melody', 'mixing', 'writing narration.wav'],
  render: ['collecting artifacts', 'laying out the page', 'embedding media', 'writing final.html'],
};
const FALLBACK = ['starting', 'working', 'almost there', 'finishing'];

function cancelled(): StageError {
  return new StageError('cancelled', 'cancelled');
}

/**
 * Waits `ms`, or rejects with StageError `cancelled` as soon as `signal` aborts. The timer and
 * the listener are removed either way, so nothing keeps the process alive afterwards.
 */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(cancelled());
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(cancelled());
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Wraps an adapter so it first "works" for `ms`, reporting progress 2–4 times (more steps for
 * longer delays) before doing the real (instant) work. Honours `ctx.signal` throughout.
 */
export function delayed(adapter: StageAdapter, ms: number, name = ''): StageAdapter {
  const steps = ms >= 3_000 ? 4 : ms >= 1_000 ? 3 : 2;
  const phrases = PHRASES[name] ?? FALLBACK;
  return async (ctx: StageContext) => {
    for (let i = 0; i < steps; i++) {
      if (ctx.signal.aborted) throw cancelled();
      ctx.progress(`${phrases[Math.floor((i * phrases.length) / steps)]} (${i + 1}/${steps})`);
      await sleep(ms / steps, ctx.signal);
    }
    return adapter(ctx);
  };
}

/**
 * The builtin stage called `name`, ready to run, or undefined when there is no such builtin.
 * With `delayMs` (from the config's `delay`), it pretends to work that long first. Either way
 * a run that starts after the signal aborted is refused with StageError `cancelled`.
 */
export function runBuiltin(name: string, delayMs: number | undefined): StageAdapter | undefined {
  // Object.hasOwn: names such as "toString" must not find Object.prototype members.
  if (!Object.hasOwn(builtinStages, name)) return undefined;
  const adapter = builtinStages[name]!;
  const run = delayMs !== undefined && delayMs > 0 ? delayed(adapter, delayMs, name) : adapter;
  return async (ctx) => {
    if (ctx.signal.aborted) throw cancelled();
    return run(ctx);
  };
}
