/**
 * Crash chaos: signoff as a real process on a real store (a SQLite file, or a PostgreSQL database), driven through Slack (HTTP mode,
 * signed slash commands and button clicks) against the fake Slack, SIGKILLed at random moments
 * and restarted on the same data directory. Shared by `npm run chaos` (tests/chaos/crash.ts, the
 * full run) and tests/chaos/crash.test.ts (the quick run in `npm test`).
 *
 * Every job follows a plan drawn from the seed (crash-plan.ts). The driver acts as people would:
 * a click or command that got no answer (signoff was down) is sent again after the restart,
 * unless it turns out to have been applied; one that was acknowledged (200) must take effect,
 * or it is reported lost. At the end the store (read-only) and the fake's recordings are checked
 * (crash-verify.ts, checks.ts).
 */
import fs from 'node:fs';
import path from 'node:path';
import { FakeSlack, type ApiCall } from '../../helpers/fake-slack.js';
import { tempDir } from '../../helpers/fixtures.js';
import { freePort } from '../../helpers/signoff-process.js';
import type { StoreLocation } from '../../../src/store/audit.js';
import type { CheckResult, DbSnapshot } from './checks.js';
import { planJobs, type Click, type JobPlan } from './crash-plan.js';
import type { Keeper } from './keeper.js';
import { verifyCrashRun } from './crash-verify.js';
import { JobIndex } from './job-index.js';
import { chaosPipelineYaml, countRuns, DIRECTOR_GROUP, PEOPLE } from './pipeline.js';
import { rng } from './prng.js';
import { Restarter } from './restarter.js';
import { CHAOS_BOT_TOKEN, CHAOS_SIGNING_SECRET, PostRecorder, send, signForm, signInteraction, type Delivery, type SignedRequest } from './slack-driver.js';

export const CHAOS_CHANNEL = 'C0CHAOS';

export interface CrashChaosOptions {
  jobs: number;
  kills: number;
  seed: number;
  /** limits.max_concurrent_jobs (default 12): more jobs wait in the queue. */
  maxConcurrent?: number;
  /** The optional gate's auto_approve_after (default 1s). */
  autoApprove?: string;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** Give up (and report what is stuck) after this long (default 10 minutes). */
  timeoutMs?: number;
  /** Keep the working directory even when the run passes. */
  keepDir?: boolean;
  /** An empty PostgreSQL database to run signoff on (SIGNOFF_DATABASE_URL); unset: the data directory's SQLite file. */
  databaseUrl?: string;
  /**
   * What runs signoff (default: one process on a SQLite file in the run's directory, restarted
   * after each SIGKILL). `env` holds the Slack settings every process needs.
   */
  keeper?: (setup: KeeperSetup) => Promise<Keeper>;
  /** Every apiEvery-th job is submitted through the API instead of Slack (default: none). */
  apiEvery?: number;
  /**
   * Answers 500/503 ("busy, nothing changed") are expected (a database restart) and sent again,
   * as a person would; otherwise any answer but 200 is a violation.
   */
  busyIsExpected?: boolean;
  /** See CrashRecord.requireRecovery (default true). */
  requireRecovery?: boolean;
  /** More checks on the final database (their figures join the summary's `extra`). */
  extraChecks?: (db: DbSnapshot) => CheckResult;
  /**
   * How long after a restart to look for the effect of a request that got NO answer before
   * sending it again (default 0). The process may have stored it just before it died; a restarted
   * process carries such interactions out a moment after it answers /healthz, which on PostgreSQL
   * can take longer than the first look (seen: a click carried out after it was sent again).
   */
  unansweredGraceMs?: number;
  /** Checks on the running processes once every job finished and the outbox drained (figures join `extra`). */
  beforeStop?: () => Promise<CheckResult>;
}

/** What a keeper is built from. */
export interface KeeperSetup {
  configPath: string;
  dir: string;
  env: Record<string, string>;
  violation: (text: string) => void;
}

export interface CrashChaosSummary {
  store: 'sqlite' | 'postgres';
  seed: number;
  jobs: number;
  kills: number;
  restarts: number;
  durationS: number;
  submissions: { sent: number; accepted: number; unanswered: number; resent: number; viaApi: number; busy: number; acknowledgedThenBusy: number; carriedOutLate: number };
  clicks: { sent: number; accepted: number; unanswered: number; applied: number; refused: Record<string, number>; replays: number; replaysApplied: number; rejectDialogs: number; busy: number; acknowledgedThenBusy: number; carriedOutLate: number };
  outcomes: Record<string, number>;
  stages: { processRuns: number; starts: number; recovered: number };
  slack: { apiCalls: number; posts: number; uploads: number; edits: number; responses: number };
  gates: { decisions: number; decidedTwice: number; skipped: number; byWrongPerson: number };
  delivery: { outboxRows: number; undelivered: number; dropped: number; retries: number; duplicates: number; outOfOrder: number; missing: number; uploadRefsWithoutId: number };
  lost: { submissions: number; clicks: number };
  stuck: number;
  diedOnItsOwn: number;
  /** Figures of `extraChecks`. */
  extra: Record<string, number>;
  violations: string[];
  dir: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** How long after a restart an acknowledged (stored) interaction may take to be carried out. */
const CARRY_OUT_MS = 10_000;
/** How much longer to look for one that was not, before calling it lost and sending it again. */
const LATE_LIMIT_MS = 60_000;
type Effect = Record<string, any>;

/** Runs one crash-chaos campaign and returns its summary (violations empty = every promise held). */
export async function runCrashChaos(o: CrashChaosOptions): Promise<CrashChaosSummary> {
  const log = o.log ?? (() => undefined);
  const unansweredGraceMs = o.unansweredGraceMs ?? 0;
  const started = Date.now();
  const deadline = started + (o.timeoutMs ?? 10 * 60_000);
  const r = rng(o.seed);
  const plans = planJobs(r, o.jobs, o.seed, o.apiEvery ? { apiEvery: o.apiEvery } : {});
  const dir = tempDir('signoff-chaos-');
  const dataDir = path.join(dir, 'data');
  const store: StoreLocation = o.databaseUrl ? { url: o.databaseUrl } : { file: path.join(dataDir, 'signoff.db') };
  const runsLog = path.join(dir, 'runs.log');
  const configPath = path.join(dir, 'signoff.yaml');
  fs.writeFileSync(configPath, chaosPipelineYaml({ runsLog, seed: o.seed, autoApprove: o.autoApprove ?? '1s', maxConcurrent: o.maxConcurrent ?? 12, channel: CHAOS_CHANNEL }));
  fs.writeFileSync(runsLog, '');

  const fake = await FakeSlack.start();
  fake.usergroups.set(DIRECTOR_GROUP, [PEOPLE.carol]);
  const recorder = new PostRecorder(fake);
  const violations: string[] = [];
  const violation = (text: string) => {
    violations.push(text);
    log(`VIOLATION ${text}`);
  };
  const env = { SLACK_BOT_TOKEN: CHAOS_BOT_TOKEN, SLACK_SIGNING_SECRET: CHAOS_SIGNING_SECRET, SLACK_API_URL: fake.apiUrl, SIGNOFF_SLACK_POSTS_PER_SECOND: '100', ...(o.databaseUrl ? { SIGNOFF_DATABASE_URL: o.databaseUrl } : {}) };
  const keeper: Keeper = o.keeper
    ? await o.keeper({ configPath, dir, env, violation })
    : new Restarter({ configPath, dataDir, port: await freePort(), logFile: path.join(dir, 'signoff.log'), env }, store, violation);
  await keeper.start();
  const index = new JobIndex(keeper, deadline);

  const figures = {
    submissions: { sent: 0, accepted: 0, unanswered: 0, resent: 0, viaApi: 0, busy: 0, acknowledgedThenBusy: 0, carriedOutLate: 0 },
    clicks: { sent: 0, accepted: 0, unanswered: 0, applied: 0, refused: {} as Record<string, number>, replays: 0, replaysApplied: 0, rejectDialogs: 0, busy: 0, acknowledgedThenBusy: 0, carriedOutLate: 0 },
    lost: { submissions: 0, clicks: 0 },
  };
  const applied = new Map<number, Map<string, number>>();
  const replays: { job: number; key: string }[] = [];
  let submitted = 0;
  let finishedJobs = 0;

  function classify(d: Delivery, what: string, busy?: { busy: number }): 'accepted' | 'unanswered' | 'refused' {
    if (d.status === 200) return 'accepted';
    if (d.status === 0) return 'unanswered';
    // "Busy, nothing changed" while the database restarts: a person tries again.
    if (o.busyIsExpected && (d.status === 500 || d.status === 503)) {
      if (busy) busy.busy += 1;
      return 'unanswered';
    }
    violation(`${what} was answered ${d.status}: ${'text' in d ? d.text.slice(0, 300) : ''}`);
    return 'refused';
  }

  /**
   * Busy answers signoff gave after acknowledging a request ("nothing changed / nothing was
   * created. Try again"), through the command's response_url or privately to the person. Such a
   * request is not lost (the person is told to send it again, and the driver does), but it is
   * counted apart (acknowledgedThenBusy). Only looked for while the database may be away.
   */
  const BUSY_TEXT = /nothing (changed|was created)\. Try again/;
  function busyAnswers(user: string, responseId?: string): number {
    if (!o.busyIsExpected) return 0;
    const viaUrl = responseId && BUSY_TEXT.test(JSON.stringify(fake.responses.find((x) => x.id === responseId)?.body ?? '')) ? 1 : 0;
    return viaUrl + fake.ephemerals.filter((e) => e.user === user && BUSY_TEXT.test(`${e.text ?? ''}${JSON.stringify(e.blocks ?? [])}`)).length;
  }

  /** The job's events after `after`, asked until signoff answers (it may be down, or go down meanwhile). */
  async function events(job: number, after: number): Promise<Effect[]> {
    for (;;) {
      if (Date.now() > deadline) throw new Error(`job ${job}: no answer from GET /events before the deadline`);
      await keeper.up();
      try {
        const { status, json } = await keeper.child.api('GET', `/jobs/${job}/events?after=${after}`);
        if (status === 200) return json.events;
      } catch {
        // Killed while answering: ask the next process.
      }
      await sleep(30);
    }
  }

  async function lastSeq(job: number): Promise<number> {
    const list = await events(job, 0);
    return list.length ? list[list.length - 1]!.seq : 0;
  }

  // ------------------------------------------------------------------ submitting

  /**
   * The job with this brief, read from a process started after the kill (what the file holds is
   * all there is), waiting up to `ms` after that process came up for stored work to be done.
   */
  async function appearsAfterRestart(brief: string, sentAt: number, ms: number): Promise<number | undefined> {
    for (;;) {
      await keeper.up();
      const gen = keeper.generation;
      await index.refresh(Math.max(keeper.upSince, sentAt));
      const found = index.byBrief.get(brief);
      if (found) return found.id;
      if (keeper.generation === gen && Date.now() - keeper.upSince >= ms) return undefined;
      await sleep(50);
    }
  }

  async function submit(plan: JobPlan): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      if (Date.now() > deadline) throw new Error(`job ${plan.n}: could not submit before the deadline`);
      await keeper.up();
      if (attempt > 0) figures.submissions.resent += 1;
      if (plan.via === 'api') {
        const id = await submitThroughApi(plan);
        if (id !== undefined) return id;
        continue;
      }
      const fields = fake.slashCommand({ user_id: plan.submitter, channel_id: CHAOS_CHANNEL, text: `submit chaos ${plan.brief}` });
      const sentAt = Date.now();
      const gen = keeper.generation;
      figures.submissions.sent += 1;
      const outcome = classify(await send(keeper.child.url, signForm(fields)), `submitting job ${plan.n}`, figures.submissions);
      if (outcome === 'accepted') figures.submissions.accepted += 1;
      if (outcome === 'unanswered') figures.submissions.unanswered += 1;
      const responseId = fields.response_url!.split('/').pop();
      const busyBefore = busyAnswers(plan.submitter);
      // The answer in Slack ("Job 12 (chaos) started."), or else the API, tells the job id.
      for (;;) {
        const answer = JSON.stringify(fake.responses.find((x) => x.id === responseId)?.body ?? '');
        const id = /Job (\d+) \(chaos\)/.exec(answer)?.[1];
        if (id) return Number(id);
        const known = index.byBrief.get(plan.brief);
        if (known) return known.id;
        if (Date.now() > deadline) throw new Error(`job ${plan.n}: never appeared`);
        if (outcome === 'accepted' && busyAnswers(plan.submitter, responseId) > busyBefore) {
          figures.submissions.acknowledgedThenBusy += 1;
          break;
        }
        if (keeper.generation !== gen || outcome !== 'accepted') {
          // Restarted (or never answered): once a process is up again, what the file holds is
          // all there is; the reading must come from that process, not one from before the kill.
          // An acknowledged submission is stored: the restarted process must carry it out
          // (within seconds of starting), and it must not be sent again.
          const again = await appearsAfterRestart(plan.brief, sentAt, outcome === 'accepted' ? CARRY_OUT_MS : unansweredGraceMs);
          if (again) return again;
          if (outcome === 'accepted' && busyAnswers(plan.submitter, responseId) > busyBefore) figures.submissions.acknowledgedThenBusy += 1;
          else if (outcome === 'accepted') {
            // Late is still a broken promise, but sending it again would make a second job that
            // nobody drives (seen: such orphans filled max_concurrent_jobs and stalled the run).
            const late = await appearsAfterRestart(plan.brief, sentAt, LATE_LIMIT_MS);
            const said = JSON.stringify(fake.responses.find((x) => x.id === responseId)?.body ?? 'nothing').slice(0, 300);
            if (late) {
              figures.submissions.carriedOutLate += 1;
              violation(`job ${plan.n}: the submission by ${plan.submitter} was acknowledged (200) but carried out more than ${CARRY_OUT_MS / 1000} s after the restart`);
              return late;
            }
            figures.lost.submissions += 1;
            violation(`job ${plan.n}: the submission by ${plan.submitter} was acknowledged (200) but no job was created, even ${(CARRY_OUT_MS + LATE_LIMIT_MS) / 1000} s after the restart (its answer in Slack: ${said})`);
          }
          break;
        }
        if (Date.now() - sentAt > 5_000) await index.refresh(sentAt);
        else await sleep(25);
      }
    }
  }

  /** One POST /api/v1/jobs; the job's id, or undefined when it must be sent again. */
  async function submitThroughApi(plan: JobPlan): Promise<number | undefined> {
    const sentAt = Date.now();
    figures.submissions.sent += 1;
    figures.submissions.viaApi += 1;
    const answer = await keeper.child.api('POST', '/jobs', { pipeline: 'chaos', brief: plan.brief }).catch(() => ({ status: 0, json: null }));
    if (answer.status === 201) {
      figures.submissions.accepted += 1;
      return Number(answer.json.job.id);
    }
    if (answer.status !== 0 && !(o.busyIsExpected && (answer.status === 500 || answer.status === 503))) {
      violation(`submitting job ${plan.n} through the API was answered ${answer.status}: ${JSON.stringify(answer.json).slice(0, 300)}`);
      return undefined;
    }
    if (answer.status === 0) figures.submissions.unanswered += 1;
    else figures.submissions.busy += 1;
    // No answer (its process died) or busy: the job may still have been stored; look before resending.
    return appearsAfterRestart(plan.brief, sentAt, 0);
  }

  // ------------------------------------------------------------------ clicking

  async function findEffect(job: number, after: number, click: Click, stage: string): Promise<Effect | undefined> {
    const list = await events(job, after);
    return list.find((e) => (e.type === 'gate.voted' || e.type === 'gate.refused') && e.actor === `slack:${click.user}` && e.stage === stage);
  }

  /** Records an applied click and checks it got the answer its plan says. */
  function judge(job: number, plan: JobPlan, stage: string, click: Click, effect: Effect): void {
    const key = `${click.user}|${stage}`;
    const perJob = applied.get(job) ?? new Map<string, number>();
    perJob.set(key, (perJob.get(key) ?? 0) + 1);
    applied.set(job, perJob);
    figures.clicks.applied += 1;
    if (effect.type === 'gate.refused') figures.clicks.refused[effect.code] = (figures.clicks.refused[effect.code] ?? 0) + 1;
    const got = effect.type === 'gate.voted' ? 'voted' : effect.code;
    const ok = click.expect === 'voted_or_decided' ? got === 'voted' || got === 'already_decided' : got === click.expect && (got !== 'voted' || effect.vote === click.action);
    if (!ok) violation(`job ${job} (plan ${plan.n}): ${click.user} clicked ${click.action} on "${stage}" expecting ${click.expect}, got ${got}${effect.message ? ` (${effect.message})` : ''}`);
  }

  /** The effect, as a process started after the kill reports it, waiting up to `ms` after it came up. */
  async function effectAfterRestart(seen: () => Promise<Effect | undefined>, ms: number): Promise<Effect | undefined> {
    for (;;) {
      await keeper.up();
      const gen = keeper.generation;
      const found = await seen();
      if (found) return found;
      if (keeper.generation === gen && Date.now() - keeper.upSince >= ms) return undefined;
      await sleep(50);
    }
  }

  /** Sends fresh requests (`make`) until one takes effect (`effect`); an acknowledged one that never does is lost. */
  async function clickUntilApplied(job: number, stage: string, click: Click, make: () => SignedRequest, effect: (baseline: number) => Promise<Effect | undefined>): Promise<{ effect: Effect; req: SignedRequest }> {
    for (;;) {
      if (Date.now() > deadline) throw new Error(`job ${job}: the click by ${click.user} on ${stage} never took effect`);
      await keeper.up();
      const baseline = await lastSeq(job);
      const busyBefore = busyAnswers(click.user);
      const req = make();
      const gen = keeper.generation;
      figures.clicks.sent += 1;
      const outcome = classify(await send(keeper.child.url, req), `a click by ${click.user} on job ${job} "${stage}"`, figures.clicks);
      if (outcome === 'accepted') figures.clicks.accepted += 1;
      if (outcome === 'unanswered') figures.clicks.unanswered += 1;
      const sentAt = Date.now();
      for (;;) {
        const seen = await effect(baseline);
        if (seen) return { effect: seen, req };
        if (outcome === 'accepted' && busyAnswers(click.user) > busyBefore) {
          figures.clicks.acknowledgedThenBusy += 1;
          break;
        }
        if (keeper.generation !== gen || outcome !== 'accepted') {
          // An acknowledged click is stored: the restarted process must carry it out.
          const last = await effectAfterRestart(() => effect(baseline), outcome === 'accepted' ? CARRY_OUT_MS : unansweredGraceMs);
          if (last) return { effect: last, req };
          if (outcome === 'accepted' && busyAnswers(click.user) > busyBefore) figures.clicks.acknowledgedThenBusy += 1;
          else if (outcome === 'accepted') {
            const late = await effectAfterRestart(() => effect(baseline), LATE_LIMIT_MS);
            if (late) {
              figures.clicks.carriedOutLate += 1;
              violation(`job ${job}: a ${click.action} click by ${click.user} on "${stage}" was acknowledged (200) but carried out more than ${CARRY_OUT_MS / 1000} s after the restart`);
              return { effect: late, req };
            }
            figures.lost.clicks += 1;
            violation(`job ${job}: a ${click.action} click by ${click.user} on "${stage}" was acknowledged (200) but never applied, even ${(CARRY_OUT_MS + LATE_LIMIT_MS) / 1000} s after the restart`);
          }
          break;
        }
        if (Date.now() - sentAt > 15_000) {
          violation(`job ${job}: a ${click.action} click by ${click.user} on "${stage}" was acknowledged but had no effect after 15 s`);
          break;
        }
        await sleep(30);
      }
    }
  }

  async function doClick(job: number, plan: JobPlan, stage: string, click: Click): Promise<void> {
    const card = recorder.card(job, stage, 1)!;
    const payload = (action: 'approve' | 'reject') =>
      fake.blockAction({ user: click.user, channel: card.channel, message_ts: card.ts, action_id: `signoff_gate_${action}`, value: card.value, block_id: card.blockId });
    const voted = (baseline: number) => findEffect(job, baseline, click, stage);
    if (click.action === 'approve') {
      const { effect, req } = await clickUntilApplied(job, stage, click, () => signInteraction(payload('approve')), voted);
      judge(job, plan, stage, click, effect);
      if (click.replay) {
        figures.clicks.replays += 1;
        const d = await send(keeper.child.url, req);
        if (d.status !== 200 && d.status !== 0 && !(o.busyIsExpected && d.status >= 500)) violation(`job ${job}: a replayed click was answered ${d.status}`);
        replays.push({ job, key: `${click.user}|${stage}` });
      }
      return;
    }
    // Reject: the click opens the reason dialog (views.open with its trigger_id); submitting it decides.
    let triggerId = '';
    const opened = await clickUntilApplied(
      job,
      stage,
      click,
      () => {
        const p = payload('reject');
        triggerId = String(p.trigger_id);
        return signInteraction(p);
      },
      async () => fake.views.find((v) => v.trigger_id === triggerId && v.view.callback_id === 'signoff_reject'),
    );
    figures.clicks.rejectDialogs += 1;
    const reason = { reason: { reason: { type: 'plain_text_input', value: click.reason ?? 'no' } } };
    const submittedDialog = await clickUntilApplied(job, stage, click, () => signInteraction(fake.viewSubmission({ user: click.user, callback_id: 'signoff_reject', view_id: String(opened.effect.id), values: reason })), voted);
    judge(job, plan, stage, click, submittedDialog.effect);
  }

  // ------------------------------------------------------------------ one job, start to end

  async function waitCard(job: number, stage: string, orElse?: () => boolean) {
    for (;;) {
      const card = recorder.card(job, stage, 1);
      if (card) return card;
      if (orElse?.()) return undefined;
      if (Date.now() > deadline) throw new Error(`job ${job}: the "${stage}" gate card never arrived`);
      await sleep(30);
    }
  }

  async function drive(plan: JobPlan): Promise<void> {
    const job = await submit(plan);
    submitted += 1;
    for (const click of plan.draft) {
      // The draft card may come after its timer already approved it: then there is nothing to race.
      const card = await waitCard(job, 'draft', () => recorder.card(job, 'review', 1) !== undefined);
      if (!card) break;
      await sleep(click.delayMs ?? 0);
      await doClick(job, plan, 'draft', click);
    }
    for (const stage of ['review', 'publish'] as const) {
      const clicks = plan[stage];
      if (!clicks.length) continue;
      await waitCard(job, stage);
      for (const click of clicks) await doClick(job, plan, stage, click);
      if (clicks.some((c) => c.action === 'reject')) break;
    }
    for (;;) {
      await index.refresh(Date.now());
      const state = index.stateOf(job);
      if (state && ['succeeded', 'rejected', 'failed', 'cancelled'].includes(state)) {
        if (state !== plan.outcome) violation(`job ${job} (plan ${plan.n}) ended ${state}, but its clicks imply ${plan.outcome}`);
        break;
      }
      if (Date.now() > deadline) throw new Error(`job ${job} is stuck in ${state}`);
      await sleep(150);
    }
    finishedJobs += 1;
  }

  // ------------------------------------------------------------------ the run

  // Kills fall at random times over the expected length of the run (about 3 s per wave of
  // concurrent jobs); every other one waits for a stage in flight, so that even a short run
  // exercises recovery. Downtimes of up to 1.5 s let auto-approvals fall due while signoff is down.
  const expectedMs = (o.jobs / (o.maxConcurrent ?? 12)) * 3_000 + 3_000;
  const killAt = Array.from({ length: o.kills }, () => Math.round((0.05 + 0.85 * r.next()) * expectedMs)).sort((a, b) => a - b);
  const killDelays = killAt.map(() => r.int(0, 120));
  const downtimes = killAt.map(() => r.int(0, 1_500));
  const gaps = plans.map(() => r.int(10, 90));
  let driversDone = false;
  let liveChecks: CheckResult = { violations: [], figures: {} };
  const progress = setInterval(() => log(`${((Date.now() - started) / 1000).toFixed(0)} s: ${submitted} submitted, ${finishedJobs}/${o.jobs} done, ${keeper.restarts} restarts, ${fake.stats.calls} Slack calls`), 5_000);
  try {
    const killer = (async () => {
      for (const [k, at] of killAt.entries()) {
        while (Date.now() - started < at && !driversDone && Date.now() < deadline) await sleep(20);
        if (k % 2 === 1) {
          const until = Date.now() + 3_000;
          while (Date.now() < until && !driversDone) {
            await index.refresh(Date.now());
            if ([...index.byBrief.values()].some((j) => j.state === 'running')) break;
          }
        }
        await sleep(killDelays[k]!);
        log(`kill ${k + 1}/${o.kills} at ${((Date.now() - started) / 1000).toFixed(1)} s (${finishedJobs} jobs done); down for ${downtimes[k]} ms`);
        await keeper.killAndRestart(downtimes[k]!);
      }
    })();
    const drivers: Promise<void>[] = [];
    for (const [i, plan] of plans.entries()) {
      drivers.push(drive(plan).catch((err: Error) => violation(`job plan ${plan.n}: ${err.message}`)));
      await sleep(gaps[i]!);
    }
    await Promise.all(drivers);
    driversDone = true;
    await killer;
    // Everything decided: wait for the last notifications, then stop signoff cleanly.
    await keeper.up();
    for (;;) {
      if ((await keeper.child.metric('signoff_outbox_pending').catch(() => undefined)) === 0) break;
      if (Date.now() > deadline) {
        violation('the outbox did not drain before the deadline');
        break;
      }
      await sleep(100);
    }
    liveChecks = (await o.beforeStop?.()) ?? liveChecks;
  } finally {
    clearInterval(progress);
    await keeper.stop();
    await fake.close();
  }

  const db = await keeper.read();
  const verified = verifyCrashRun(db, { plans, applied, replays, snapshots: keeper.snapshots, recorder, fake, channel: CHAOS_CHANNEL, requireRecovery: o.requireRecovery ?? true });
  violations.push(...verified.violations);
  const checked = o.extraChecks?.(db) ?? { violations: [], figures: {} };
  const extra = { violations: [...liveChecks.violations, ...checked.violations], figures: { ...liveChecks.figures, ...checked.figures } };
  violations.push(...extra.violations);
  const f = verified.figures;
  const runs = countRuns(fs.readFileSync(runsLog, 'utf8'));
  const calls = (m: string) => fake.calls.filter((c: ApiCall) => c.method === m).length;
  figures.clicks.replaysApplied = f.replaysApplied ?? 0;
  if (violations.length || o.keepDir) {
    // For the post-mortem: what the fake received, in order, and when signoff was killed.
    fs.writeFileSync(path.join(dir, 'posts.json'), JSON.stringify(recorder.posts.map((p) => ({ ...p, blocks: undefined })), null, 1));
    fs.writeFileSync(path.join(dir, 'calls.json'), JSON.stringify(fake.calls.map((c) => ({ method: c.method, at: c.at, channel: c.args.channel ?? c.args.channel_id, thread_ts: c.args.thread_ts, ts: c.args.ts, fault: c.fault })), null, 1));
    fs.writeFileSync(path.join(dir, 'kills.json'), JSON.stringify(keeper.killTimes, null, 1));
  } else fs.rmSync(dir, { recursive: true, force: true });
  return {
    store: o.databaseUrl ? 'postgres' : 'sqlite',
    seed: o.seed,
    jobs: o.jobs,
    kills: o.kills,
    restarts: keeper.restarts,
    durationS: Math.round((Date.now() - started) / 100) / 10,
    submissions: figures.submissions,
    clicks: figures.clicks,
    outcomes: verified.outcomes,
    stages: { processRuns: [...runs.values()].reduce((a, b) => a + b, 0), starts: f.stageStarts ?? 0, recovered: f.stagesRecovered ?? 0 },
    slack: { apiCalls: fake.stats.calls, posts: calls('chat.postMessage'), uploads: calls('files.completeUploadExternal'), edits: calls('chat.update'), responses: fake.responses.length },
    gates: { decisions: f.gateDecisions ?? 0, decidedTwice: f.gatesDecidedTwice ?? 0, skipped: f.gatesSkipped ?? 0, byWrongPerson: f.decisionsByWrongPerson ?? 0 },
    delivery: {
      outboxRows: f.outboxRows ?? 0,
      undelivered: f.undelivered ?? 0,
      dropped: f.dropped ?? 0,
      retries: f.deliveryRetries ?? 0,
      // Each post that is no root's, gate's or notice's stored message, counted once.
      duplicates: f.duplicates ?? 0,
      outOfOrder: f.outOfOrder ?? 0,
      missing: f.missingMessages ?? 0,
      uploadRefsWithoutId: f.uploadRefsWithoutId ?? 0,
    },
    lost: figures.lost,
    stuck: f.stuck ?? 0,
    diedOnItsOwn: keeper.diedOnItsOwn,
    extra: extra.figures,
    violations,
    dir,
  };
}
