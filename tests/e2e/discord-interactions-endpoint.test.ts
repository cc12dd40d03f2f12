/**
 * Discord's Interactions Endpoint URL, end to end: signoff with DISCORD_PUBLIC_KEY takes signed
 * interactions at POST /discord/interactions and answers in the HTTP response, while the fake
 * Discord serves the REST side (the job's messages, the gate card and its edits). Requests are
 * signed as Discord signs them, with a key pair made here; everything asserted is what Discord
 * (and so the person clicking) would get back, and what the job and its card then show.
 */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startApp, type App } from '../../src/app.js';
import { ALICE_ID, APP_ID, BOB_ID, DAVE_ID, FakeDiscord, type Json } from '../helpers/fake-discord.js';
import { DISCORD_TOKEN, drained, gateMessages, postedGate } from '../helpers/discord-harness.js';
import { configFrom, silentLog, tempDir } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/wait.js';

/** One required gate needing two editors, then one more stage. */
const YAML = `
operators:
  editors: { discord: ["${ALICE_ID}", "${BOB_ID}"] }
submitters: [editors]
pipelines:
  two:
    description: two approvals
    stages:
      - id: outline
        run: { builtin: outline }
        gate: { required: true, approvers: [editors], min_approvals: 2, allow_self_approval: true }
      - id: script
        run: { builtin: script }
`;

const keys = generateKeyPairSync('ed25519');
/** The 32 raw bytes of the public key in hex, as the Developer Portal shows it. */
const PUBLIC_KEY_HEX = keys.publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('hex');

let fake: FakeDiscord;
let app: App;
let dataDir: string;
let url: string;

beforeEach(async () => {
  fake = await FakeDiscord.start();
  dataDir = tempDir('signoff-discord-http-');
  app = await startApp({
    config: configFrom(YAML),
    dataDir,
    apiToken: 'discord-http-api-token-0123456789',
    log: silentLog,
    host: '127.0.0.1',
    port: 0,
    discord: { token: DISCORD_TOKEN, applicationId: APP_ID, apiUrl: fake.apiUrl, publicKey: PUBLIC_KEY_HEX },
  });
  url = `${app.url}/discord/interactions`;
});

afterEach(async () => {
  await app.stop();
  await fake.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  expect(fake.internalErrors).toEqual([]);
});

interface Signed {
  body: string;
  headers: Record<string, string>;
}

/** A request as Discord signs it: Ed25519 over the timestamp and the raw body. */
function signed(payload: unknown, o: { key?: KeyObject; at?: number } = {}): Signed {
  const body = JSON.stringify(payload);
  const timestamp = String(Math.floor((o.at ?? Date.now()) / 1000));
  const signature = sign(null, Buffer.from(timestamp + body), o.key ?? keys.privateKey).toString('hex');
  return { body, headers: { 'content-type': 'application/json', 'x-signature-ed25519': signature, 'x-signature-timestamp': timestamp } };
}

async function post(request: Signed): Promise<{ status: number; body: Json }> {
  const res = await fetch(url, { method: 'POST', headers: request.headers, body: request.body });
  return { status: res.status, body: (await res.json()) as Json };
}

const gateOf = async (job: number) => (await app.store.jobs.load(job))!.gates.find((g) => g.stage === 'outline')!;

/** `/signoff submit` over the endpoint: the answer (private) names the job. */
async function submit(user: string): Promise<number> {
  const answer = await post(signed(fake.slashCommand({ subcommand: 'submit', options: { pipeline: 'two', brief: 'Over HTTP' }, user })));
  expect(answer.status).toBe(200);
  expect(answer.body).toMatchObject({ type: 4, data: { flags: 64, allowed_mentions: { parse: [] } } });
  const job = Number(/Job (\d+)/.exec(String((answer.body.data as Json).content))?.[1]);
  expect(job).toBeGreaterThan(0);
  return job;
}

describe('POST /discord/interactions', () => {
  it('answers a signed PING with PONG', async () => {
    expect(await post(signed({ type: 1, id: '1', application_id: APP_ID }))).toEqual({ status: 200, body: { type: 1 } });
  });

  it('refuses a bad signature, a tampered body and missing headers with 401, and changes nothing', async () => {
    const other = generateKeyPairSync('ed25519');
    const forged = signed(fake.slashCommand({ subcommand: 'submit', options: { pipeline: 'two', brief: 'forged' }, user: BOB_ID }), { key: other.privateKey });
    expect(await post(forged)).toMatchObject({ status: 401, body: { error: 'bad_signature' } });
    const good = signed(fake.slashCommand({ subcommand: 'submit', options: { pipeline: 'two', brief: 'tampered' }, user: BOB_ID }));
    expect(await post({ ...good, body: good.body.replace('tampered', 'tampered!') })).toMatchObject({ status: 401 });
    expect(await post({ body: good.body, headers: { 'content-type': 'application/json' } })).toMatchObject({ status: 401 });
    expect(await post({ ...good, headers: { ...good.headers, 'x-signature-ed25519': 'zz' } })).toMatchObject({ status: 401 });
    expect((await app.store.queries.list({ limit: 10 }))).toEqual([]);
  });

  it('refuses a correctly signed request more than 5 minutes old or ahead', async () => {
    const payload = () => fake.slashCommand({ subcommand: 'submit', options: { pipeline: 'two', brief: 'stale' }, user: BOB_ID });
    expect(await post(signed(payload(), { at: Date.now() - 301_000 }))).toMatchObject({ status: 401, body: { error: 'stale_request' } });
    expect(await post(signed(payload(), { at: Date.now() + 301_000 }))).toMatchObject({ status: 401, body: { error: 'stale_request' } });
    expect((await app.store.queries.list({ limit: 10 }))).toEqual([]);
    // Within the window it is taken.
    expect(await post(signed(payload(), { at: Date.now() - 200_000 }))).toMatchObject({ status: 200, body: { type: 4 } });
  });

  it('signed clicks decide a gate: a replayed click is applied once, a refusal is private, the card is edited through REST', async () => {
    const job = await submit(ALICE_ID);
    const card = await postedGate(fake, job, 'outline');
    await drained(app, job);

    // dave may not decide: a private refusal in the response, nothing changes.
    const refused = await post(signed(fake.button({ custom_id: card.buttons.Approve!.custom_id, message: card.id, user: DAVE_ID })));
    expect(refused).toMatchObject({ status: 200, body: { type: 4, data: { flags: 64 } } });
    expect(String((refused.body.data as Json).content)).toMatch(/^You may not decide the "outline" gate/);
    expect((await gateOf(job)).votes).toEqual([]);

    // bob approves (1 of 2): a deferred update; the same signed request again is applied once.
    const bobClick = signed(fake.button({ custom_id: card.buttons.Approve!.custom_id, message: card.id, user: BOB_ID }));
    expect(await post(bobClick)).toEqual({ status: 200, body: { type: 6 } });
    const replay = await post(bobClick);
    expect(replay).toMatchObject({ status: 200, body: { type: 4, data: { flags: 64, content: 'That was already done; nothing changed.' } } });
    expect((await gateOf(job)).votes.map((v) => `${v.actor}:${v.vote}`)).toEqual([`discord:${BOB_ID}:approve`]);
    expect((await app.store.events.forJob(job)).filter((e) => e.type === 'gate.voted')).toHaveLength(1);
    await waitFor(() => /Approvals: 1 of 2/.test(JSON.stringify(gateMessages(fake, job, 'outline')[0]?.embeds)), 'the tally 1 of 2 on the card');

    // alice's approval decides it; the card is edited to the outcome with its buttons gone.
    expect(await post(signed(fake.button({ custom_id: card.buttons.Approve!.custom_id, message: card.id, user: ALICE_ID })))).toEqual({ status: 200, body: { type: 6 } });
    await waitFor(async () => (await gateOf(job)).state === 'approved' && (await app.store.jobs.load(job))!.job.state === 'succeeded', 'the gate approved and the job finished');
    await drained(app, job);
    const now = gateMessages(fake, job, 'outline');
    expect(now).toHaveLength(1);
    expect(now[0]!.content).toMatch(/Approved by/);
    expect(now[0]!.components).toEqual([]);
  });

  it('Reject answers with the reason modal; the signed modal submission rejects the gate; autocomplete offers choices', async () => {
    const job = await submit(ALICE_ID);
    const card = await postedGate(fake, job, 'outline');
    const modal = await post(signed(fake.button({ custom_id: card.buttons.Reject!.custom_id, message: card.id, user: BOB_ID })));
    expect(modal).toMatchObject({ status: 200, body: { type: 9, data: { custom_id: `sg:reject:${job}:outline:1`, title: `Reject outline of job ${job}` } } });
    const submitted = await post(signed(fake.modalSubmit({ custom_id: `sg:reject:${job}:outline:1`, fields: { reason: 'Too long' }, layout: 'labels', user: BOB_ID, message: card.id })));
    expect(submitted).toMatchObject({ status: 200, body: { type: 4, data: { flags: 64 } } });
    await waitFor(async () => (await gateOf(job)).state === 'rejected', 'the gate rejected');
    expect((await gateOf(job)).reason).toBe('Too long');

    const choices = await post(signed(fake.autocomplete({ subcommand: 'submit', focused: 'pipeline', value: 'tw', user: BOB_ID })));
    expect(choices).toEqual({ status: 200, body: { type: 8, data: { choices: [{ name: 'two', value: 'two' }] } } });
  });
});
