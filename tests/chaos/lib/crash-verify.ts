/**
 * The end of a crash-chaos run: everything checked from the database (read-only, signoff
 * stopped) and the fake Slack's recordings, against what the driver did.
 */
import type { FakeSlack } from '../../helpers/fake-slack.js';
import { checkEventLog, checkGates, checkOutbox, checkSlackThreads, checkStages, merge, type DbSnapshot } from './checks.js';
import type { JobPlan } from './crash-plan.js';
import { chaosMayDecide } from './pipeline.js';
import type { PostRecorder } from './slack-driver.js';

export interface CrashRecord {
  plans: JobPlan[];
  /** job → `user|stage` → clicks the driver saw take effect (one event each). */
  applied: Map<number, Map<string, number>>;
  /** Clicks sent a second time, byte for byte (`user|stage`). */
  replays: { job: number; key: string }[];
  /** Stages running at each kill. */
  snapshots: Set<string>[];
  recorder: PostRecorder;
  fake: FakeSlack;
  channel: string;
  /**
   * Whether every stage running at a kill must have been recovered (default true). With several
   * processes a snapshot also holds stages of the ones still alive, which finish normally.
   */
  requireRecovery?: boolean;
}

export function verifyCrashRun(db: DbSnapshot, run: CrashRecord): { violations: string[]; figures: Record<string, number>; outcomes: Record<string, number> } {
  const mayDecide = (actor: string, _job: DbSnapshot['jobs'][number], stage: string) => chaosMayDecide(actor, stage);
  const result = merge(checkEventLog(db), checkGates(db, mayDecide), checkStages(db, run.snapshots, { requireRecovery: run.requireRecovery ?? true }), checkOutbox(db, 'slack'), checkSlackThreads(db, run.recorder.posts, run.channel));
  const violations = [...result.violations];

  // Jobs: each planned job exactly once, in the state its clicks imply, none left in progress.
  let stuck = 0;
  const outcomes: Record<string, number> = {};
  for (const plan of run.plans) {
    const rows = db.jobs.filter((j) => j.brief === plan.brief);
    if (rows.length !== 1) violations.push(`plan ${plan.n}: ${rows.length} jobs have its brief (want exactly 1)`);
    const job = rows[0];
    if (!job) continue;
    outcomes[job.state] = (outcomes[job.state] ?? 0) + 1;
    if (!['succeeded', 'rejected', 'failed', 'cancelled'].includes(job.state)) stuck += 1;
    if (job.state !== plan.outcome) violations.push(`job ${job.id}: ${job.state}, but its clicks imply ${plan.outcome}`);
    const submitter = plan.via === 'api' ? plan.submitter : `slack:${plan.submitter}`;
    if (job.submitter !== submitter) violations.push(`job ${job.id}: submitter ${job.submitter}, want ${submitter}`);
  }
  if (db.jobs.length !== run.plans.length) violations.push(`${db.jobs.length} jobs in the database for ${run.plans.length} planned submissions`);

  // Clicks: each applied click left exactly one event (vote or refusal); replays left none.
  let replaysApplied = 0;
  for (const job of db.jobs) {
    const seen = new Map<string, number>();
    for (const e of db.events.filter((x) => x.job === job.id && (x.type === 'gate.voted' || x.type === 'gate.refused'))) {
      const key = `${String(e.data.actor).replace(/^slack:/, '')}|${e.data.stage}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    const want = run.applied.get(job.id) ?? new Map<string, number>();
    for (const key of new Set([...seen.keys(), ...want.keys()])) {
      const got = seen.get(key) ?? 0;
      const expected = want.get(key) ?? 0;
      const who = key.replace('|', ' on ');
      if (got > expected) {
        const replayed = run.replays.some((x) => x.job === job.id && x.key === key);
        if (replayed) replaysApplied += got - expected;
        violations.push(`job ${job.id}: ${got} vote/refusal events by ${who}, but only ${expected} clicks were applied${replayed ? ' (a replayed click was applied again)' : ''}`);
      }
      if (got < expected) violations.push(`job ${job.id}: ${got} vote/refusal events by ${who}, but ${expected} clicks were seen applied`);
    }
  }

  // What a Slack user sees at the end: no card still offering buttons, one card per gate round.
  for (const m of run.recorder.cardsWithButtons()) violations.push(`message ${m.ts} still shows gate buttons after every gate was decided`);
  for (const [blockId, cards] of run.recorder.cards) if (cards.length > 1) violations.push(`gate ${blockId} was posted ${cards.length} times`);
  // A request cut off by the SIGKILL shows up in the fake as an aborted body: expected here.
  for (const err of run.fake.internalErrors) if (err.message !== 'aborted') violations.push(`fake Slack internal error: ${err.message}`);

  return { violations, figures: { ...result.figures, stuck, replaysApplied }, outcomes };
}
