/**
 * signoff as a child process in Slack HTTP mode against a fresh fake Slack, with the chaos
 * pipeline, for the targeted crash and outage tests: start, SIGKILL, restart on the same data
 * directory, wait for the outbox to drain, read the database.
 */
import fs from 'node:fs';
import path from 'node:path';
import { FakeSlack } from '../../helpers/fake-slack.js';
import { tempDir } from '../../helpers/fixtures.js';
import { freePort } from '../../helpers/signoff-process.js';
import { waitFor } from '../../helpers/wait.js';
import type { StoreLocation } from '../../../src/store/audit.js';
import { readDb, type DbSnapshot } from './checks.js';
import { SignoffChild } from './child.js';
import { chaosPipelineYaml, DIRECTOR_GROUP, PEOPLE } from './pipeline.js';
import { CHAOS_BOT_TOKEN, CHAOS_SIGNING_SECRET, PostRecorder, send, signForm, signInteraction, type Delivery } from './slack-driver.js';

export const CHANNEL = 'C0CHAOS';

export interface SlackChild {
  fake: FakeSlack;
  recorder: PostRecorder;
  child: SignoffChild;
  dir: string;
  dataDir: string;
  dbFile: string;
  /** Where the store is: the SQLite file, or the PostgreSQL database given as `databaseUrl`. */
  store: StoreLocation;
  runsLog: string;
  /** SIGKILLs the process (if alive) and starts a new one on the same port and data directory. */
  restart(): Promise<SignoffChild>;
  /** Submits a `chaos` job through the API (as the API user); returns its id. */
  submit(brief: string): Promise<number>;
  /** A signed click on the first card of a gate round. */
  click(job: number, stage: string, user: string, action?: 'approve' | 'reject' | 'hold'): Promise<Delivery>;
  /** A signed `/signoff …` slash command. */
  command(user: string, text: string): Promise<Delivery>;
  /** Waits until no chat notification is pending (GET /metrics). */
  drained(timeoutMs?: number): Promise<void>;
  events(job: number): Promise<any[]>;
  /** Stops signoff (SIGTERM) and reads the database. */
  stop(): Promise<DbSnapshot>;
}

/** `databaseUrl`: run signoff on that (empty) PostgreSQL database instead of the data directory's SQLite file. */
export async function startSlackChild(o: { autoApprove?: string; maxConcurrent?: number; env?: Record<string, string>; yamlExtra?: string; discordChannel?: string; databaseUrl?: string } = {}): Promise<SlackChild> {
  const dir = tempDir('signoff-chaos-');
  const dataDir = path.join(dir, 'data');
  const runsLog = path.join(dir, 'runs.log');
  const configPath = path.join(dir, 'signoff.yaml');
  fs.writeFileSync(
    configPath,
    chaosPipelineYaml({
      runsLog,
      seed: 1,
      autoApprove: o.autoApprove ?? '1s',
      maxConcurrent: o.maxConcurrent ?? 20,
      channel: CHANNEL,
      ...(o.discordChannel ? { discordChannel: o.discordChannel } : {}),
      ...(o.yamlExtra ? { extra: o.yamlExtra } : {}),
    }),
  );
  const fake = await FakeSlack.start();
  fake.usergroups.set(DIRECTOR_GROUP, [PEOPLE.carol]);
  const recorder = new PostRecorder(fake);
  const port = await freePort();
  const options = {
    configPath,
    dataDir,
    port,
    logFile: path.join(dir, 'signoff.log'),
    env: { SLACK_BOT_TOKEN: CHAOS_BOT_TOKEN, SLACK_SIGNING_SECRET: CHAOS_SIGNING_SECRET, SLACK_API_URL: fake.apiUrl, SIGNOFF_SLACK_POSTS_PER_SECOND: '100', ...(o.databaseUrl ? { SIGNOFF_DATABASE_URL: o.databaseUrl } : {}), ...o.env },
  };
  const dbFile = path.join(dataDir, 'signoff.db');
  const handle: SlackChild = {
    fake,
    recorder,
    child: await SignoffChild.start(options),
    dir,
    dataDir,
    dbFile,
    store: o.databaseUrl ? { url: o.databaseUrl } : { file: dbFile },
    runsLog,
    async restart() {
      await handle.child.kill('SIGKILL');
      handle.child = await SignoffChild.start(options);
      return handle.child;
    },
    async submit(brief) {
      const { status, json } = await handle.child.api('POST', '/jobs', { pipeline: 'chaos', brief });
      if (status !== 201) throw new Error(`submit answered ${status}: ${JSON.stringify(json)}`);
      return json.job.id;
    },
    click(job, stage, user, action = 'approve') {
      const card = recorder.card(job, stage, 1);
      if (!card) throw new Error(`no card for ${job}/${stage}`);
      const payload = fake.blockAction({ user, channel: card.channel, message_ts: card.ts, action_id: `signoff_gate_${action}`, value: card.value, block_id: card.blockId });
      return send(handle.child.url, signInteraction(payload));
    },
    command(user, text) {
      return send(handle.child.url, signForm(fake.slashCommand({ user_id: user, channel_id: CHANNEL, text })));
    },
    async drained(timeoutMs = 30_000) {
      await waitFor(async () => (await handle.child.metric('signoff_outbox_pending').catch(() => undefined)) === 0, 'the outbox to drain', timeoutMs);
    },
    async events(job) {
      const { status, json } = await handle.child.api('GET', `/jobs/${job}/events`);
      if (status !== 200) throw new Error(`events answered ${status}`);
      return json.events;
    },
    async stop() {
      await handle.child.kill('SIGTERM');
      await fake.close();
      return readDb(handle.store);
    },
  };
  return handle;
}
