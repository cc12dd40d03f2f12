/**
 * `signoff run progress|heartbeat|complete|fail`: the client a script on another machine (a CI
 * job, a render node) uses to report a run that signoff handed to it. It needs only signoff's URL
 * and the run's token, and answers with exit codes a shell script can test.
 */
import { createReadStream, statSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';

/** Exit codes, documented in `signoff run --help` and the README. */
export const EXIT = { ok: 0, refused: 1, usage: 2, unreachable: 3 } as const;

const USAGE = `usage: signoff run <progress|heartbeat|complete|fail> [options] [text…]

  signoff run progress "rendered 40 of 120 frames"
  signoff run heartbeat
  signoff run complete --summary "deployed 1.4.2" [--outputs '{"version":"1.4.2"}'] [--artifact FILE]…
  signoff run fail "the build broke: see the CI log"

options:
  --url URL        signoff's address (default: $SIGNOFF_URL, else $SIGNOFF_CALLBACK_URL)
  --token TOKEN    the run's token (default: $SIGNOFF_RUN_TOKEN)
  --artifact FILE  upload FILE as an artifact of the run first (repeat for more files)
  --summary TEXT   complete: one line shown in chat (or give it as the text)
  --outputs JSON   complete: small structured outputs, a JSON object
  --error TEXT     fail: what went wrong (or give it as the text)
  --message TEXT   progress: the line to show (or give it as the text)

exit codes: 0 done; 1 refused (wrong token, the run is over, a different report already made it
finish, a bad file); 2 usage; 3 signoff unreachable or busy (try again later).
`;

type Env = Record<string, string | undefined>;
const REPORT_TIMEOUT_MS = 30_000;
const UPLOAD_TIMEOUT_MS = 30 * 60_000;

class Exit extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

/** Runs the client; resolves with the exit code (messages go to stdout and stderr). */
export async function runClient(argv: string[], env: Env, out = process.stdout, err = process.stderr): Promise<number> {
  try {
    const message = await run(argv, env);
    out.write(`${message}\n`);
    return EXIT.ok;
  } catch (e) {
    if (e instanceof Exit) {
      err.write(e.code === EXIT.usage && !e.message ? USAGE : `signoff run: ${e.message}\n`);
      return e.code;
    }
    err.write(`signoff run: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT.unreachable;
  }
}

async function run(argv: string[], env: Env): Promise<string> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        url: { type: 'string' }, token: { type: 'string' }, artifact: { type: 'string', multiple: true },
        summary: { type: 'string' }, outputs: { type: 'string' }, error: { type: 'string' }, message: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw new Exit(EXIT.usage, `${(e as Error).message}\n${USAGE}`);
  }
  const { values: v, positionals } = parsed;
  const [kind, ...words] = positionals;
  if (v.help || !kind) throw new Exit(EXIT.usage, '');
  if (!['progress', 'heartbeat', 'complete', 'fail'].includes(kind)) throw new Exit(EXIT.usage, `unknown report "${kind}"; use progress, heartbeat, complete or fail.\n${USAGE}`);
  const base = (v.url ?? env.SIGNOFF_URL ?? env.SIGNOFF_CALLBACK_URL ?? '').replace(/\/+$/, '');
  const token = v.token ?? env.SIGNOFF_RUN_TOKEN ?? '';
  if (!/^https?:\/\/\S+$/.test(base)) throw new Exit(EXIT.usage, 'give signoff\'s address with --url or SIGNOFF_URL, e.g. http://signoff.internal:3000');
  if (!token) throw new Exit(EXIT.usage, 'give the run\'s token with --token or SIGNOFF_RUN_TOKEN (signoff hands it to the external system).');
  const text = words.join(' ').trim();
  let body: Record<string, unknown> | undefined;
  if (kind === 'progress') {
    const message = v.message ?? text;
    if (!message) throw new Exit(EXIT.usage, 'progress needs a message: signoff run progress "what happened"');
    body = { message };
  } else if (kind === 'complete') {
    const summary = v.summary ?? text;
    body = summary ? { summary } : {};
    if (v.outputs !== undefined) {
      let outputs: unknown;
      try {
        outputs = JSON.parse(v.outputs);
      } catch {
        throw new Exit(EXIT.usage, '--outputs must be a JSON object, e.g. \'{"version":"1.4.2"}\'');
      }
      if (!outputs || typeof outputs !== 'object' || Array.isArray(outputs)) throw new Exit(EXIT.usage, '--outputs must be a JSON object.');
      body.outputs = outputs;
    }
  } else if (kind === 'fail') {
    const error = v.error ?? text;
    if (!error) throw new Exit(EXIT.usage, 'fail needs a reason: signoff run fail "what went wrong"');
    body = { error };
  }
  const files = v.artifact ?? [];
  for (const file of files) {
    try {
      if (!statSync(file).isFile()) throw new Error('not a file');
    } catch {
      throw new Exit(EXIT.refused, `cannot read ${file}: it is not a file this script can read; nothing was sent.`);
    }
  }
  const runUrl = `${base}/api/v1/runs/${encodeURIComponent(token)}`;
  const uploaded: string[] = [];
  for (const file of files) {
    const name = path.basename(file);
    const size = statSync(file).size;
    const a = await send(`${runUrl}/artifacts/${encodeURIComponent(name)}`, 'PUT', base, UPLOAD_TIMEOUT_MS, {
      body: Readable.toWeb(createReadStream(file)) as ReadableStream,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    });
    uploaded.push(`${name} (${size} bytes, sha256 ${String(a.sha256).slice(0, 12)}…)`);
  }
  const answer = await send(`${runUrl}/${kind}`, 'POST', base, REPORT_TIMEOUT_MS, body ? { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } } : {});
  return [...uploaded.map((u) => `uploaded ${u}`), String(answer.message ?? 'done')].join('\n');
}

async function send(url: string, method: string, base: string, timeoutMs: number, init: { body?: string | ReadableStream; headers?: Record<string, string> }): Promise<Record<string, unknown>> {
  let res: Response;
  try {
    res = await fetch(url, { method, ...init, signal: AbortSignal.timeout(timeoutMs), ...(init.body instanceof ReadableStream ? { duplex: 'half' } : {}) } as RequestInit);
  } catch (e) {
    const cause = e instanceof Error && e.cause instanceof Error ? e.cause.message : e instanceof Error ? e.message : String(e);
    throw new Exit(EXIT.unreachable, `cannot reach signoff at ${base} (${cause}); nothing was recorded. Check the URL and try again.`);
  }
  const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (res.ok) return json;
  const said = typeof json.message === 'string' ? json.message : `HTTP ${res.status}`;
  if (res.status >= 500) throw new Exit(EXIT.unreachable, `signoff could not take the report (${res.status}): ${said}`);
  if (res.status === 404) throw new Exit(EXIT.refused, `wrong token: ${said}`);
  if (res.status === 410) throw new Exit(EXIT.refused, `the run is over: ${said}`);
  throw new Exit(EXIT.refused, `refused (${res.status}): ${said}`);
}
