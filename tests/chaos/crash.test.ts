/**
 * Crash chaos, quick: the same campaign as `npm run chaos` (tests/chaos/lib/crash-run.ts) with
 * 12 jobs and 2 SIGKILLs, plus targeted kills at the worst moments, each reproduced on purpose
 * instead of hoping a random kill lands there:
 * - right after signoff acknowledged a click or a command, before it wrote it down;
 * - right after Slack stored a post, before signoff stored the post's ts.
 * Both on SQLite and on PostgreSQL (a fresh database per test), from the same code.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { runCrashChaos } from './lib/crash-run.js';
import { PEOPLE } from './lib/pipeline.js';
import { seedFromEnv } from './lib/prng.js';
import { startSlackChild, type SlackChild } from './lib/slack-child.js';
import { freshDatabase } from '../helpers/postgres.js';
import { STORES, type StoreKind } from '../helpers/stores.js';
import { waitFor } from '../helpers/wait.js';

/** The PostgreSQL database a test of `kind` runs signoff on (none for SQLite). */
const databaseFor = async (kind: StoreKind) => (kind === 'postgres' ? { databaseUrl: await freshDatabase() } : {});

/** Fixed so CI runs the same plan every time; CHAOS_SEED overrides it. */
const QUICK_SEED = process.env.CHAOS_SEED ? seedFromEnv() : 20261126;

let open: SlackChild[] = [];
afterEach(async () => {
  for (const h of open) {
    await h.child.kill('SIGKILL');
    await h.fake.close();
  }
  open = [];
});

describe.each(STORES)('crash chaos (quick, %s)', (kind) => {
  it(`keeps every promise over 12 jobs and 2 SIGKILLs (seed ${QUICK_SEED})`, { timeout: 120_000 }, async () => {
    const summary = await runCrashChaos({ jobs: 12, kills: 2, seed: QUICK_SEED, maxConcurrent: 6, timeoutMs: 100_000, ...(await databaseFor(kind)) });
    console.log(`crash chaos (quick, ${kind}) seed ${QUICK_SEED}: ${JSON.stringify({ ...summary, violations: summary.violations.length })}`);
    expect(summary.violations, `reproduce with CHAOS_SEED=${QUICK_SEED}; kept in ${summary.dir}`).toEqual([]);
    expect(summary.restarts).toBe(2);
    expect(summary.lost).toEqual({ submissions: 0, clicks: 0 });
    expect(summary.delivery.duplicates).toBe(0);
    expect(summary.clicks.replaysApplied).toBe(0);
  });
});

describe.each(STORES)('a kill at the worst moment (%s)', (kind) => {
  it('does not lose a click or a /signoff submit that signoff acknowledged just before it died', async () => {
    const h = await startSlackChild({ autoApprove: '1m', ...(await databaseFor(kind)) });
    open.push(h);
    // The optional draft gate waits a minute here; alice may approve it.
    const job = await h.submit('ack then die: click');
    await waitFor(() => h.recorder.card(job, 'draft', 1), 'the draft card');
    // Reading user groups hangs, so both interactions are stored and acknowledged (the inbox)
    // but not carried out when the kill comes. In Slack they look done; the restart must do them.
    h.fake.failNext('usergroups.users.list', { hangMs: 30_000 }, 2);
    const clicked = await h.click(job, 'draft', PEOPLE.alice);
    expect(clicked.status).toBe(200);
    await waitFor(() => h.fake.callsTo('usergroups.users.list').length >= 1, 'the click handler to look up user groups');
    const submitted = await h.command(PEOPLE.bob, 'submit chaos ack then die: submit');
    expect(submitted.status).toBe(200);
    await waitFor(() => h.fake.callsTo('usergroups.users.list').length >= 2, 'the command handler to look up user groups');
    await h.restart();
    // The restarted process carries out what it stored and acknowledged (seconds at most).
    const votes = async () => (await h.events(job)).filter((e) => e.type === 'gate.voted' && e.actor === `slack:${PEOPLE.alice}`);
    const briefs = async () => ((await h.child.api('GET', '/jobs')).json.jobs as { brief: string }[]).map((j) => j.brief);
    await waitFor(async () => (await votes()).length > 0 && (await briefs()).includes('ack then die: submit'), 'the stored click and submission to be carried out', 10_000);
    expect(await votes(), "alice's acknowledged approval is in the audit once").toHaveLength(1);
    expect((await briefs()).filter((b) => b === 'ack then die: submit'), 'the acknowledged submission made one job').toHaveLength(1);
  });
});
