/**
 * Draws one SVG to PNG in a child process that is killed when it takes too long. resvg's work
 * cannot be interrupted once started (in a thread it runs to the end however long that is: a
 * 3 KB SVG of 40 large blurred circles took 13 s here), so a stage's SVG is drawn where a
 * timeout really stops it. The child gets the SVG on stdin, resvg's options as an argument and no
 * environment (none of signoff's secrets), and writes the PNG to stdout.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import type { ResvgRenderOptions } from '@resvg/resvg-js';

/** The child's program: plain CommonJS, so it runs from the build and from the tests alike. */
const CHILD = `
const { Resvg } = require(process.argv[1]);
const chunks = [];
process.stdin.on('data', (c) => chunks.push(c)).on('end', () => {
  const png = new Resvg(Buffer.concat(chunks), JSON.parse(process.argv[2])).render().asPng();
  process.stdout.end(png);
});
`;

/** A PNG larger than this is not a preview: the child is stopped. */
const MAX_PNG_BYTES = 32 * 1024 * 1024;

let resvgPath: string | undefined;

/** The PNG resvg draws from `svg` with `options`, or an error (resvg's, or the timeout's). */
export function renderInChild(svg: string, options: ResvgRenderOptions, timeoutMs: number): Promise<Buffer> {
  resvgPath ??= createRequire(import.meta.url).resolve('@resvg/resvg-js');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', CHILD, resvgPath!, JSON.stringify(options)], { env: {}, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let size = 0;
    let stderr = '';
    let failure: Error | undefined;
    const stop = (err: Error) => {
      failure ??= err;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => stop(new Error(`drawing it took longer than ${timeoutMs} ms`)), timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_PNG_BYTES) stop(new Error(`its PNG is larger than ${MAX_PNG_BYTES} bytes`));
      else out.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-2000);
    });
    child.on('error', (err) => stop(err));
    child.on('close', (code) => {
      clearTimeout(timer);
      if (failure) return reject(failure);
      if (code !== 0) return reject(new Error(/SVG data parsing failed[^\n]*/.exec(stderr)?.[0] ?? `resvg stopped with code ${code}: ${stderr.trim().split('\n').pop() ?? ''}`));
      resolve(Buffer.concat(out));
    });
    // A child that died early closes stdin: that shows as its exit, not as an error here.
    child.stdin.on('error', () => undefined);
    child.stdin.end(svg);
  });
}
