/**
 * The picture under review on the gate card, end to end: a command stage draws an SVG (which
 * neither Slack nor Discord shows), signoff draws a PNG from it once, and the reviewers see it on
 * the card itself. On the fake Slack: the PNG is uploaded with the stage's files into the thread
 * and the card carries an image block naming that upload's file id, also after a lost upload
 * answer (the upload is found again, not repeated); if Slack refuses the image block, the card
 * goes without it. On the fake Discord: the card is posted with
 * the PNG attached and its embed shows `attachment://…`, kept when the card is edited.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { pngSize } from '../../src/bot/previews/svg-check.js';
import { ALICE_ID, BOB_ID, CHANNEL_ID, FakeDiscord, type Json } from '../helpers/fake-discord.js';
import { FakeSlack } from '../helpers/fake-slack.js';
import * as discord from '../helpers/discord-harness.js';
import * as slack from '../helpers/slack-harness.js';
import { waitFor } from '../helpers/wait.js';
import { STORES, freshPlace, type StoreKind } from '../helpers/stores.js';

/** What the stage draws: a 640×360 board with a title and two panels. */
const BOARD_SVG = [
  '<svg xmlns="http://www.w3.org/2000/svg" width="640" height="360" viewBox="0 0 640 360">',
  '<rect width="640" height="360" fill="#fafaf7"/>',
  '<text x="20" y="40" font-size="24" font-family="sans-serif">Launch video</text>',
  '<rect x="20" y="70" width="280" height="260" rx="10" fill="#cde" stroke="#246"/>',
  '<rect x="340" y="70" width="280" height="260" rx="10" fill="#edc" stroke="#642"/>',
  '</svg>',
].join('');

/** One gated command stage writing board.svg, then one more stage; jobs go to the fakes' channels. */
function yaml(): string {
  const draw = `require('fs').writeFileSync(require('path').join(process.env.SIGNOFF_OUTPUT_DIR, 'board.svg'), ${JSON.stringify(BOARD_SVG)}); console.log('Board drawn')`;
  return `
operators:
  editors: { slack: [${slack.ALICE}, ${slack.BOB}], discord: ["${ALICE_ID}", "${BOB_ID}"] }
submitters: [editors]
channels: { slack: ${slack.CHANNEL}, discord: "${CHANNEL_ID}" }
pipelines:
  board:
    description: a command stage draws a board for review
    stages:
      - id: board
        run: { command: ${JSON.stringify([process.execPath, '-e', draw])} }
        gate: { required: true, approvers: [editors] }
      - id: publish
        run: { builtin: outline }
`;
}

async function submit(url: string, apiToken: string): Promise<number> {
  const res = await fetch(`${url}/api/v1/jobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ pipeline: 'board', brief: 'A launch video' }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { job: { id: number } }).job.id;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

type Block = { type: string; slack_file?: { id?: string }; alt_text?: string; title?: { text?: string } };

describe('previews on the Slack gate card', () => {
  async function start(o: { loseUploadAnswer?: boolean; refuseCard?: boolean; kind?: StoreKind } = {}) {
    const fake = await FakeSlack.start();
    cleanups.push(() => fake.close());
    // The stage's files (the SVG and its preview) go up in one upload; its answer may be lost.
    if (o.loseUploadAnswer) fake.failNext('files.completeUploadExternal', { lose: true });
    // The root message is posted as usual (a fault of 0 ms is no fault); the card is refused.
    if (o.refuseCard) {
      fake.failNext('chat.postMessage', { hangMs: 0 });
      fake.failNext('chat.postMessage', { error: 'invalid_blocks' });
    }
    // On PostgreSQL the SVG is read from the database and its preview kept in this process's cache.
    const place = await freshPlace(o.kind ?? 'sqlite', 'signoff-previews-');
    const h = await slack.startSlackApp({ fake, mode: 'http', yaml: yaml(), dataDir: place.dataDir, ...(place.databaseUrl ? { databaseUrl: place.databaseUrl } : {}) });
    cleanups.push(() => h.stop());
    return { fake, h };
  }

  /** The one preview upload of a job and the image block on its card, once delivered. */
  async function previewOnCard(fake: FakeSlack, h: slack.SlackHarness, job: number) {
    const card = await slack.waitForGateCard(fake, job, 'board');
    await slack.drained(h.app, job);
    const previews = fake.uploads.filter((u) => u.filename === 'board-preview.png');
    expect(previews).toHaveLength(1);
    const image = (card.call.args.blocks as Block[]).find((b) => b.type === 'image');
    return { card, upload: previews[0]!, image };
  }

  it.each(STORES)('the SVG goes up with a PNG drawn from it, and the card shows that PNG by its file id; the decided card keeps it (%s)', async (kind) => {
    const { fake, h } = await start({ kind });
    const job = await submit(h.app.url, slack.API_TOKEN);
    const { card, upload, image } = await previewOnCard(fake, h, job);

    // A real PNG of the board's size, uploaded beside the SVG in the same thread reply.
    expect(pngSize(upload.bytes)).toEqual({ width: 640, height: 360 });
    const svg = fake.uploads.find((u) => u.filename === 'board.svg')!;
    expect(upload).toMatchObject({ title: 'board: board.svg (preview)', channel: slack.CHANNEL, threadTs: svg.threadTs, shareTs: svg.shareTs });
    expect(svg.bytes.toString('utf8')).toBe(BOARD_SVG);

    // On the card itself, after what is reviewed and before the buttons.
    expect(image).toEqual({ type: 'image', slack_file: { id: upload.fileId }, alt_text: 'Preview of board.svg', title: { type: 'plain_text', text: 'board.svg' } });
    const types = (card.call.args.blocks as Block[]).map((b) => b.type);
    expect(types.indexOf('image')).toBeLessThan(types.indexOf('actions'));

    const posted = slack.asPosted(card);
    const res = await slack.interact(h.eventsUrl, slack.clickPayload(fake, posted, slack.buttons(posted.blocks).Approve!, slack.BOB));
    expect(res.status).toBe(200);
    await waitFor(async () => (await h.app.store.jobs.load(job))!.job.state === 'succeeded', 'the job to finish');
    await slack.drained(h.app, job);
    const now = fake.message(posted.channel, posted.ts)!;
    expect(slack.blockText(now.blocks)).toContain('Approved by');
    expect((now.blocks as Block[]).find((b) => b.type === 'image')).toEqual(image);
    expect(fake.uploads.filter((u) => u.filename === 'board-preview.png')).toHaveLength(1);
  });

  it("a lost answer to the upload: the thread's upload is found again, not repeated, and the card names its file", async () => {
    const { fake, h } = await start({ loseUploadAnswer: true });
    const job = await submit(h.app.url, slack.API_TOKEN);
    const { upload, image } = await previewOnCard(fake, h, job);
    expect(fake.stats.lost).toBe(1);
    expect(fake.uploads.filter((u) => u.filename === 'board.svg')).toHaveLength(1);
    expect(image?.slack_file).toEqual({ id: upload.fileId });
  });

  it('Slack refuses the card with its image: the card is sent without the image, buttons and all', async () => {
    const { fake, h } = await start({ refuseCard: true });
    const job = await submit(h.app.url, slack.API_TOKEN);
    const card = await slack.waitForGateCard(fake, job, 'board');
    await slack.drained(h.app, job);
    const refused = fake.callsTo('chat.postMessage').filter((c) => c.fault?.error === 'invalid_blocks');
    expect(refused).toHaveLength(1);
    expect((refused[0]!.args.blocks as Block[]).some((b) => b.type === 'image')).toBe(true);
    expect((card.call.args.blocks as Block[]).some((b) => b.type === 'image')).toBe(false);
    expect(Object.keys(slack.buttons(card.call.args.blocks as unknown[]))).toEqual(['Approve', 'Approve with note…', 'Reject']);
    expect(slack.gateCards(fake, job, 'board')).toHaveLength(1);
  });
});

describe('previews on the Discord gate card', () => {
  it.each(STORES)('the card is posted with the PNG attached and its embed shows it; an edit keeps both (%s)', async (kind) => {
    const fake = await FakeDiscord.start();
    cleanups.push(() => fake.close());
    const place = await freshPlace(kind, 'signoff-previews-');
    const h = await discord.startDiscordApp({ fake, yaml: yaml(), dataDir: place.dataDir, ...(place.databaseUrl ? { databaseUrl: place.databaseUrl } : {}) });
    cleanups.push(() => h.stop());
    const job = await submit(h.app.url, discord.API_TOKEN);

    const posted = await discord.postedGate(fake, job, 'board');
    expect((posted.body.embeds as Json[])[0]!.image).toEqual({ url: 'attachment://board-preview.png' });
    const files = fake.filesOf(posted.id);
    expect(files.map((f) => f.name)).toEqual(['board-preview.png']);
    expect(pngSize(files[0]!.bytes)).toEqual({ width: 640, height: 360 });

    const callback = await fake.dispatchInteraction(fake.button({ custom_id: posted.buttons.Approve!.custom_id, message: posted.id, user: BOB_ID }));
    expect(callback).toMatchObject({ type: 6, accepted: true });
    await waitFor(async () => (await h.app.store.jobs.load(job))!.job.state === 'succeeded', 'the job to finish');
    await discord.drained(h.app, job);
    const now = fake.messages.get(posted.id)!;
    expect(now.content).toMatch(/Approved by Bob/);
    expect(now.embeds[0]!.image).toEqual({ url: 'attachment://board-preview.png' });
    expect(fake.filesOf(posted.id).map((f) => f.name)).toEqual(['board-preview.png']);
    expect(fake.filesOf(posted.id)[0]!.bytes.equals(files[0]!.bytes)).toBe(true);
  });
});
