/**
 * signoff in-process with Slack in HTTP mode against the fake Slack, for the hostile-input suite:
 * signed (or forged) requests to /slack/events, the answers a person sees (response_url posts),
 * and a fingerprint of everything a request could change, to prove that nothing did.
 */
import path from 'node:path';
import { startApp, type App } from '../../../src/app.js';
import { FakeSlack } from '../../helpers/fake-slack.js';
import { configFrom, silentLog, tempDir } from '../../helpers/fixtures.js';
import { waitFor } from '../../helpers/wait.js';
import { CHAOS_BOT_TOKEN, CHAOS_SIGNING_SECRET, PostRecorder, send, signForm, signInteraction, type Delivery, type SignedRequest } from './slack-driver.js';
import { sqliteOnly } from '../../../src/store/store.js';

export const API_TOKEN = 'hostile-api-token-0123456789abcdef';
export const CHANNEL = 'C0HOSTILE';
export const ALICE = 'U0ALICE';
export const BOB = 'U0BOB';
export const CAROL = 'U0CAROL';
export const VIC = 'U0VIC';
export const MALLORY = 'U0MALLORY';

/**
 * `review`: one required gate for editors (no self-approval) before a second stage.
 * `pair`: the same gate needing two approvals. `secret`: a gate only directors decide.
 * `cmd`: a command stage that writes the brief it was given to a file.
 */
export const HOSTILE_YAML = `
operators:
  editors: { slack: [${ALICE}, ${BOB}] }
  directors: { slack: [${CAROL}] }
  viewers: { slack: [${VIC}] }
submitters: [editors, directors]
limits: { jobs_per_user_per_minute: 100000, max_concurrent_jobs: 100, max_brief_chars: 100000 }
channels: { slack: ${CHANNEL} }
console: { enabled: false }
pipelines:
  review:
    stages:
      - id: draft
        run: { builtin: outline }
        gate: { required: true, approvers: [editors] }
      - id: final
        run: { builtin: script }
  pair:
    stages:
      - id: draft
        run: { builtin: outline }
        gate: { required: true, approvers: [editors, directors], min_approvals: 2 }
  secret:
    stages:
      - id: draft
        run: { builtin: outline }
        gate: { required: true, approvers: [directors] }
  cmd:
    stages:
      - id: echo
        run: { command: ["sh", "-c", "printf '%s' \\"$SIGNOFF_BRIEF\\" > \\"$SIGNOFF_OUTPUT_DIR/brief.txt\\""], timeout: 30s }
`;

export interface HostileApp {
  app: App;
  fake: FakeSlack;
  recorder: PostRecorder;
  url: string;
  /** Sends a signed request (or the given one) to /slack/events. */
  post(req: SignedRequest, headers?: Record<string, string>): Promise<Delivery>;
  /** Signs and sends a `/signoff …` command by `user`; returns the answer's text (waits for it) and the delivery. */
  command(user: string, text: string): Promise<{ delivery: Delivery; answer: string }>;
  /** A button payload on the card of `job`'s gate (`value` overrides the card's). */
  click(job: number, user: string, o?: { action?: string; value?: string; stage?: string }): Record<string, unknown>;
  /** Sends a click payload and waits for the private answer (when one is expected). */
  clickAndAnswer(payload: Record<string, unknown>): Promise<{ delivery: Delivery; answer: string }>;
  /** The answer posted to a payload's response_url, once it arrives. */
  answerTo(payload: { response_url?: unknown }, timeoutMs?: number): Promise<string>;
  api(method: string, route: string, o?: { json?: unknown; raw?: string | Buffer; token?: string | null; headers?: Record<string, string> }): Promise<{ status: number; body: any; text: string }>;
  /** Submits through the API as the API user and waits until the job waits at its first gate. */
  jobAtGate(pipeline: string, brief?: string, actor?: string): Promise<number>;
  job(id: number): Promise<any>;
  /** Everything a request could change (job, stage, gate and vote rows, events other than refusals). */
  fingerprint(): string;
  /** gate.refused events so far. */
  refusals(): { job: number; code: string; actor: string }[];
  stop(): Promise<void>;
}

export async function startHostileApp(yaml = HOSTILE_YAML): Promise<HostileApp> {
  const fake = await FakeSlack.start();
  const recorder = new PostRecorder(fake);
  const app = await startApp({
    config: configFrom(yaml),
    dataDir: path.join(tempDir('signoff-hostile-'), 'data'),
    apiToken: API_TOKEN,
    log: silentLog,
    host: '127.0.0.1',
    port: 0,
    slack: { botToken: CHAOS_BOT_TOKEN, signingSecret: CHAOS_SIGNING_SECRET, apiUrl: fake.apiUrl, postsPerSecond: 100 },
  });
  const db = sqliteOnly(app.store).db;
  const h: HostileApp = {
    app,
    fake,
    recorder,
    url: app.url,
    post: (req, headers) => send(app.url, req, headers),
    async command(user, text) {
      const fields = fake.slashCommand({ user_id: user, channel_id: CHANNEL, text });
      const delivery = await send(app.url, signForm(fields));
      const answer = delivery.status === 200 ? await h.answerTo(fields) : '';
      return { delivery, answer };
    },
    click(job, user, o = {}) {
      const stage = o.stage ?? 'draft';
      const card = recorder.card(job, stage, 1);
      if (!card) throw new Error(`job ${job} has no ${stage} card with buttons`);
      return fake.blockAction({ user, channel: card.channel, message_ts: card.ts, action_id: o.action ?? 'signoff_gate_approve', value: o.value ?? card.value, block_id: card.blockId });
    },
    async clickAndAnswer(payload) {
      const delivery = await send(app.url, signInteraction(payload));
      const answer = delivery.status === 200 ? await h.answerTo(payload) : '';
      return { delivery, answer };
    },
    async answerTo(payload, timeoutMs = 10_000) {
      const id = String(payload.response_url).split('/').pop();
      const found = await waitFor(() => fake.responses.find((r) => r.id === id), `the answer to ${id}`, timeoutMs);
      const body = found.body as { text?: string };
      return body.text ?? JSON.stringify(body);
    },
    async api(method, route, o = {}) {
      const headers: Record<string, string> = { ...o.headers };
      if (o.token !== null) headers.authorization ??= `Bearer ${o.token ?? API_TOKEN}`;
      if (o.json !== undefined) headers['content-type'] ??= 'application/json';
      const res = await fetch(`${app.url}/api/v1${route}`, {
        method,
        headers,
        ...(o.json !== undefined ? { body: JSON.stringify(o.json) } : o.raw !== undefined ? { body: o.raw } : {}),
      });
      const text = await res.text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      return { status: res.status, body, text };
    },
    async jobAtGate(pipeline, brief = `a ${pipeline} job`, actor) {
      const r = await h.api('POST', '/jobs', { json: { pipeline, brief }, ...(actor ? { headers: { 'x-signoff-actor': actor } } : {}) });
      if (r.status !== 201) throw new Error(`submit answered ${r.status}: ${r.text}`);
      const id = r.body.job.id as number;
      await waitFor(() => recorder.card(id, 'draft', 1), `the draft card of job ${id}`);
      return id;
    },
    async job(id) {
      return (await h.api('GET', `/jobs/${id}`)).body;
    },
    fingerprint() {
      const all = (sql: string) => db.prepare(sql).all();
      return JSON.stringify({
        jobs: all('SELECT id, pipeline, brief, params, submitter, state, stage, error FROM jobs ORDER BY id'),
        stages: all('SELECT * FROM stages ORDER BY job_id, idx'),
        gates: all('SELECT * FROM gates ORDER BY id'),
        votes: all('SELECT * FROM votes ORDER BY gate_id, actor'),
        events: all("SELECT job_id, type, data FROM events WHERE type != 'gate.refused' ORDER BY id"),
        artifacts: all('SELECT COUNT(*) AS n FROM artifacts'),
      });
    },
    refusals() {
      return (db.prepare("SELECT job_id, data FROM events WHERE type = 'gate.refused' ORDER BY id").all() as { job_id: number; data: string }[]).map((r) => {
        const d = JSON.parse(r.data);
        return { job: r.job_id, code: d.code, actor: d.actor };
      });
    },
    async stop() {
      await app.stop();
      await fake.close();
    },
  };
  return h;
}

/** Mentions and links Slack would act on in mrkdwn, except the ones signoff means to make. */
export function liveMarkup(text: string, allowed: RegExp[]): string[] {
  return [...text.matchAll(/<[^>]*>/g)].map((m) => m[0]).filter((t) => !allowed.some((a) => a.test(t)));
}

/** Every string under a `text` key, in a message's blocks (and its fallback text). */
export function textsOf(message: { text?: string | undefined; blocks?: unknown[] | undefined }): string[] {
  const out: string[] = message.text ? [message.text] : [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object')
      for (const [k, x] of Object.entries(v)) {
        if (k === 'text' && typeof x === 'string') out.push(x);
        else walk(x);
      }
  };
  walk(message.blocks ?? []);
  return out;
}
