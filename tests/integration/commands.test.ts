/**
 * The shared command grammar carried out against a real engine: what a person sees after typing
 * each /signoff command on any surface. On both stores.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { executeCommand } from '../../src/bot/commands/execute.js';
import { parseCommand } from '../../src/bot/commands/parse.js';
import { Engine } from '../../src/orchestrator/engine.js';
import type { Identity } from '../../src/orchestrator/policy.js';
import type { Store } from '../../src/store/store.js';
import { configFrom, FakeClock, QUICK_PIPELINE, silentLog } from '../helpers/fixtures.js';
import { STORES, freshPlace, openAt, type StoreKind } from '../helpers/stores.js';
import { waitFor } from '../helpers/wait.js';

let engine: Engine;
let store: Store;
afterEach(async () => {
  await engine.stop();
  await store.close();
});

let kind: StoreKind;
async function boot() {
  const place = await freshPlace(kind);
  const dir = place.dataDir;
  store = await openAt(place);
  engine = new Engine({ store, config: configFrom(QUICK_PIPELINE), dataDir: dir, baseDir: process.cwd(), log: silentLog, clock: new FakeClock(), tickSchedule: false });
  await engine.start();
}

const as = (user: string): Identity => ({ platform: 'console', user });
function run(who: Identity, text: string) {
  const parsed = parseCommand(text);
  if (!parsed.ok) return { ok: false, text: parsed.message };
  return executeCommand(engine, who, parsed.command, { surface: 'console' });
}

describe.each(STORES)('commands (%s)', (k) => {
  beforeEach(() => {
    kind = k;
  });

  it('submit, status, list, approve, audit: the whole loop by typing', async () => {
    (await boot());
    const submitted = (await run(as('alice'), '/signoff submit quick A film about "bees"'));
    expect(submitted).toMatchObject({ ok: true, jobId: 1, text: 'Job 1 (quick) started.' });
    await waitFor(async () => (await store.jobs.load(1))!.job.state === 'awaiting_approval', 'the outline gate');
    const status = await run(as('bob'), 'status #1');
    expect(status.text).toContain('✋ Job 1 · quick: Awaiting approval of outline');
    expect(status.text).toContain('Brief: A film about "bees"');
    expect(status.text).toMatch(/✋ outline \(\d+ms\) — waiting for approval \(0 of 1\)/);
    expect((await run(as('bob'), 'list')).text).toMatch(/^#1 quick — awaiting approval \(outline\) — alice — A film about "bees"$/);
    expect((await run(as('bob'), 'list failed')).text).toBe('No failed jobs.');
    expect((await run(as('dave'), 'approve 1 outline'))).toMatchObject({ ok: false, text: expect.stringContaining('needs a member of editors') });
    expect((await run(as('bob'), 'approve 1 outline'))).toMatchObject({ ok: true, text: 'Approved "outline" of job 1.' });
    const audit = (await run(as('carol'), 'audit 1')).text.split('\n');
    expect(audit[0]).toMatch(/^Audit of job 1 \(\d+ events\):$/);
    expect(audit.some((l) => /#\d+ gate\.refused .*actor="console:dave".*code="not_authorised"/.test(l))).toBe(true);
    expect(audit.some((l) => /#\d+ gate\.approved stage="outline" by="bob" auto=false/.test(l))).toBe(true);
  });

  it('reject needs a reason, cancel and retry work by id, unknown jobs are named', async () => {
    (await boot());
    (await run(as('alice'), 'submit quick bees'));
    await waitFor(async () => (await store.jobs.load(1))!.job.state === 'awaiting_approval', 'the outline gate');
    expect((await run(as('bob'), 'reject 1 outline')).text).toContain('needs a reason');
    expect((await run(as('bob'), 'reject 1 outline too vague'))).toMatchObject({ ok: true });
    expect((await run(as('alice'), 'retry 1'))).toMatchObject({ ok: true, text: expect.stringContaining('queued again from "outline" with the rejection reason') });
    expect((await run(as('alice'), 'cancel 1 wrong brief'))).toMatchObject({ ok: true, text: 'Cancelled job 1.' });
    expect((await run(as('alice'), 'status 99'))).toMatchObject({ ok: false, text: 'There is no job 99. /signoff list shows recent jobs.' });
  });

  it('answers bad input with usage, and people outside the config with what to do', async () => {
    (await boot());
    expect((await run(as('alice'), '/signoff submit nope a brief'))).toMatchObject({ ok: false, text: expect.stringContaining('There is no pipeline "nope". Pipelines: quick.') });
    expect((await run(as('alice'), '/signoff frobnicate')).text).toContain('Unknown command');
    expect((await run(as('mallory'), 'list'))).toMatchObject({ ok: false, text: expect.stringContaining('not a signoff operator') });
    expect((await run(as('mallory'), 'help')).ok).toBe(true);
    expect((await run(as('dave'), 'submit quick bees'))).toMatchObject({ ok: false, text: expect.stringContaining('may not submit') });
    expect((await run(as('alice'), 'submit'))).toMatchObject({ ok: true, form: 'submit' });
    expect((await run(as('alice'), 'pipelines')).text).toBe('quick: quick test pipeline\n  stages: outline [review] → script [approval] → storyboard [approval]');
  });
});
