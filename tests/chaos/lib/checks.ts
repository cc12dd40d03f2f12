/**
 * The invariants the chaos suites prove, checked from the store (read-only, after the process
 * stopped or was killed) and from what the fake chat server recorded. Each check returns violations
 * (plain sentences naming the job, stage and seq) and the figures it counted, so a run can print
 * both and a test can assert that there are no violations.
 */
import { readAudit, readRunningStages, type StoreLocation } from '../../../src/store/audit.js';
import { renderPlan } from '../../../src/bot/views/render-plan.js';
import type { Post } from './slack-driver.js';

export interface EventRow {
  id: number;
  job: number;
  seq: number;
  type: string;
  at: number;
  data: Record<string, any>;
}

export interface DbSnapshot {
  jobs: { id: number; pipeline: string; brief: string; submitter: string; state: string; stage: string | null; def: { stages: { id: string; gate?: { required: boolean; min_approvals: number; approvers: string[]; allow_self_approval: boolean } }[] } }[];
  events: EventRow[];
  stages: { job_id: number; stage: string; state: string; run: number }[];
  gates: { id: number; job_id: number; stage: string; round: number; state: string; required: number }[];
  votes: { gate_id: number; actor: string; vote: string }[];
  outbox: { id: number; target: string; job_id: number; event_id: number; delivered_at: number | null; last_error: string | null; attempts: number }[];
  refs: { target: string; job_id: number; key: string; channel: string; message_id: string; thread_id: string | null }[];
  artifacts: { job_id: number; stage: string; run: number; name: string }[];
}

/**
 * Reads everything the checks need through the store's read-only audit facet (src/store/audit.ts):
 * the SQLite file opened read-only, or the PostgreSQL database in one read-only snapshot.
 */
export async function readDb(where: StoreLocation): Promise<DbSnapshot> {
  return (await readAudit(where)) as DbSnapshot;
}

/** Stages a killed process left `running`, as `job:stage:run`, read right after the kill. */
export function runningStages(where: StoreLocation): Promise<Set<string>> {
  return readRunningStages(where);
}

export interface CheckResult {
  violations: string[];
  figures: Record<string, number>;
}

const byJob = (events: EventRow[]) => {
  const map = new Map<number, EventRow[]>();
  for (const e of events) map.set(e.job, [...(map.get(e.job) ?? []), e]);
  return map;
};

/** Every job's events are numbered 1..n without gaps or repeats. */
export function checkEventLog(db: DbSnapshot): CheckResult {
  const violations: string[] = [];
  for (const [job, events] of byJob(db.events)) {
    events.forEach((e, i) => {
      if (e.seq !== i + 1) violations.push(`job ${job}: event #${i + 1} has seq ${e.seq} (gap or repeat in the event log)`);
    });
  }
  return { violations, figures: { events: db.events.length } };
}

/**
 * Gates: none decided twice, none skipped, and every decision made by someone allowed.
 * `mayDecide(actor, job, stage)` says whether a person may decide that gate by the config.
 */
export function checkGates(db: DbSnapshot, mayDecide: (actor: string, job: DbSnapshot['jobs'][number], stage: string) => boolean): CheckResult {
  const violations: string[] = [];
  let decisions = 0;
  let skipped = 0;
  let doubled = 0;
  let wrongPerson = 0;
  const events = byJob(db.events);
  for (const job of db.jobs) {
    const list = events.get(job.id) ?? [];
    const stages = job.def.stages;
    // Decisions per gate round.
    const perRound = new Map<string, EventRow[]>();
    for (const e of list) {
      if (!['gate.approved', 'gate.rejected', 'gate.expired', 'gate.cancelled'].includes(e.type)) continue;
      const key = `${e.data.stage}:${e.data.round}`;
      perRound.set(key, [...(perRound.get(key) ?? []), e]);
    }
    for (const [key, decided] of perRound) {
      // An expiry with on_timeout: approve is one decision written as two events.
      const real = decided.filter((e, i) => !(e.type === 'gate.expired' && decided[i + 1]?.type === 'gate.approved' && decided[i + 1]?.data.by === 'timeout'));
      decisions += 1;
      if (real.length > 1) {
        doubled += 1;
        violations.push(`job ${job.id}: gate ${key} decided ${real.length} times (${real.map((e) => `${e.type}@seq${e.seq}`).join(', ')})`);
      }
    }
    for (const g of db.gates.filter((g) => g.job_id === job.id)) {
      const decided = perRound.get(`${g.stage}:${g.round}`)?.length ?? 0;
      if (['approved', 'rejected', 'expired', 'cancelled'].includes(g.state) && decided === 0)
        violations.push(`job ${job.id}: gate ${g.stage}:${g.round} is ${g.state} in the gates table but has no decision event`);
      if ((g.state === 'pending' || g.state === 'held') && decided > 0)
        violations.push(`job ${job.id}: gate ${g.stage}:${g.round} is ${g.state} but has a decision event`);
    }
    // Walk the log: a stage after a gated stage starts only once that gate approved the latest output.
    const lastSucceeded = new Map<string, number>();
    const lastApproved = new Map<string, number>();
    const approveVotes = new Map<string, Set<string>>();
    for (const e of list) {
      const stage = String(e.data.stage ?? '');
      const index = stages.findIndex((s) => s.id === stage);
      const gate = stages[index]?.gate;
      if (e.type === 'stage.succeeded') lastSucceeded.set(stage, e.seq);
      if (e.type === 'gate.opened') approveVotes.set(`${stage}:${e.data.round}`, new Set());
      if (e.type === 'gate.voted') {
        const actor = String(e.data.actor);
        if (!mayDecide(actor, job, stage)) {
          wrongPerson += 1;
          violations.push(`job ${job.id}: ${actor} voted ${e.data.vote} on "${stage}" (seq ${e.seq}) but may not decide it`);
        }
        if (e.data.vote === 'approve' && actor === job.submitter && gate && !gate.allow_self_approval) {
          wrongPerson += 1;
          violations.push(`job ${job.id}: the submitter ${actor} approved their own job at "${stage}" (seq ${e.seq})`);
        }
        if (e.data.vote === 'approve') approveVotes.get(`${stage}:${e.data.round}`)?.add(actor);
      }
      if (e.type === 'gate.approved') {
        lastApproved.set(stage, e.seq);
        if (gate?.required && !e.data.auto) {
          const voters = approveVotes.get(`${stage}:${e.data.round}`)?.size ?? 0;
          if (voters < gate.min_approvals) violations.push(`job ${job.id}: "${stage}" round ${e.data.round} approved with ${voters} of ${gate.min_approvals} approvals (seq ${e.seq})`);
        }
        if (gate?.required && e.data.auto && e.data.by !== 'timeout') violations.push(`job ${job.id}: required gate "${stage}" auto-approved (seq ${e.seq})`);
      }
      const next = (i: number) => {
        const prev = stages[i - 1];
        if (!prev?.gate) return;
        const ok = (lastApproved.get(prev.id) ?? -1) > (lastSucceeded.get(prev.id) ?? Infinity);
        if (!ok) {
          skipped += 1;
          violations.push(`job ${job.id}: "${stages[i]?.id ?? 'finish'}" went on (${e.type} seq ${e.seq}) without an approval of the "${prev.id}" gate after its output`);
        }
      };
      if (e.type === 'stage.started' && index > 0 && e.data.run !== undefined) next(index);
      if (e.type === 'job.finished' && e.data.state === 'succeeded') next(stages.length);
    }
  }
  return { violations, figures: { gateDecisions: decisions, gatesDecidedTwice: doubled, gatesSkipped: skipped, decisionsByWrongPerson: wrongPerson } };
}

/**
 * Stages: none left running, and each (job, stage) started once plus once per recovery or retry.
 * `snapshots` are the stages found running right after each kill: every recovery must be one of them,
 * and (unless `requireRecovery` is false: other processes may have finished them) each was recovered.
 */
export function checkStages(db: DbSnapshot, snapshots: Set<string>[] = [], o: { requireRecovery?: boolean } = {}): CheckResult {
  const violations: string[] = [];
  let started = 0;
  let recovered = 0;
  for (const s of db.stages) if (s.state === 'running') violations.push(`job ${s.job_id}: stage "${s.stage}" is still running`);
  const counts = new Map<string, { started: number; recovered: number; retried: number; rerun: number }>();
  const seen = new Set<string>();
  for (const e of db.events) {
    const key = `${e.job}:${e.data.stage}`;
    const c = counts.get(key) ?? { started: 0, recovered: 0, retried: 0, rerun: 0 };
    if (e.type === 'stage.started') (c.started += 1), (started += 1);
    if (e.type === 'stage.retried') c.retried += 1;
    if (e.type === 'stage.recovered') {
      c.recovered += 1;
      recovered += 1;
      const id = `${e.job}:${e.data.stage}:${e.data.previous_run}`;
      if (snapshots.length && !snapshots.some((s) => s.has(id))) violations.push(`job ${e.job}: stage "${e.data.stage}" run ${e.data.previous_run} was recovered (seq ${e.seq}) but was not running at any kill`);
      if (seen.has(id)) violations.push(`job ${e.job}: stage "${e.data.stage}" run ${e.data.previous_run} was recovered twice`);
      seen.add(id);
    }
    counts.set(key, c);
  }
  // Re-runs for a retried job (job.retried) start its stages again on purpose.
  for (const e of db.events.filter((x) => x.type === 'job.retried')) {
    for (const [key, c] of counts) if (key.startsWith(`${e.job}:`)) c.rerun += 1;
  }
  for (const [key, c] of counts) {
    if (c.started === 0) continue;
    const allowed = 1 + c.recovered + c.retried + c.rerun;
    if (c.started > allowed) violations.push(`job ${key.split(':')[0]}: stage "${key.split(':')[1]}" started ${c.started} times, but only ${allowed} are explained (1 + ${c.recovered} recovered + ${c.retried} retried)`);
    if (c.rerun === 0 && c.started < 1 + c.recovered + c.retried) violations.push(`job ${key.split(':')[0]}: stage "${key.split(':')[1]}" has more recoveries/retries than starts`);
  }
  if (o.requireRecovery ?? true)
    for (const snap of snapshots)
      for (const id of snap) if (!seen.has(id)) violations.push(`stage ${id} was running at a kill but never recovered`);
  return { violations, figures: { stageStarts: started, stagesRecovered: recovered } };
}

/** The outbox of `target` is empty: nothing undelivered, nothing given up on. */
export function checkOutbox(db: DbSnapshot, target: string): CheckResult {
  const rows = db.outbox.filter((o) => o.target === target);
  const pending = rows.filter((o) => o.delivered_at === null);
  const dropped = rows.filter((o) => o.last_error?.startsWith('dropped'));
  const violations = [
    ...pending.slice(0, 20).map((o) => `${target} outbox row ${o.id} (job ${o.job_id}, event ${o.event_id}) was never delivered (${o.attempts} attempts, ${o.last_error ?? 'no error'})`),
    ...dropped.slice(0, 20).map((o) => `${target} outbox row ${o.id} (job ${o.job_id}) was dropped: ${o.last_error}`),
  ];
  if (pending.length > 20) violations.push(`… and ${pending.length - 20} more undelivered ${target} rows`);
  // Slack's figures keep the plain names; another target's are prefixed (discordUndelivered …).
  const name = (key: string) => (target === 'slack' ? key : `${target}${key[0]!.toUpperCase()}${key.slice(1)}`);
  return {
    violations,
    figures: { [name('outboxRows')]: rows.length, [name('undelivered')]: pending.length, [name('dropped')]: dropped.length, [name('deliveryRetries')]: rows.reduce((n, o) => n + o.attempts, 0) },
  };
}

/**
 * Slack delivery as a person sees it: one root per job, one card per gate round, one reply per
 * notice (no duplicates), every notice event delivered, and replies in event order.
 * `posts` are the fake's visible posts in arrival order (see PostRecorder).
 */
export function checkSlackThreads(db: DbSnapshot, posts: Post[], channel: string): CheckResult {
  const violations: string[] = [];
  let duplicates = 0;
  let outOfOrder = 0;
  let missing = 0;
  let unidentifiedUploads = 0;
  const refs = db.refs.filter((r) => r.target === 'slack');
  const refOf = new Map<string, (typeof refs)[number]>();
  for (const r of refs) refOf.set(`${r.job_id}:${r.key}`, r);
  const events = byJob(db.events);
  const slackJobs = db.jobs.filter((j) => db.outbox.some((o) => o.target === 'slack' && o.job_id === j.id));
  const rootOf = new Map<string, number>();
  for (const job of slackJobs) {
    const root = refOf.get(`${job.id}:root`);
    if (!root) {
      violations.push(`job ${job.id}: no root message was stored`);
      missing += 1;
      continue;
    }
    rootOf.set(root.message_id, job.id);
  }
  // Roots: every top-level post in the jobs channel is the stored root of exactly one job.
  for (const p of posts) {
    if (p.kind !== 'message' || p.threadTs !== undefined || p.channel !== channel) continue;
    if (!rootOf.has(p.ts)) {
      duplicates += 1;
      violations.push(`a top-level message ${p.ts} in ${channel} is no job's root (a duplicate root post)`);
    }
  }
  for (const job of slackJobs) {
    const root = refOf.get(`${job.id}:root`);
    if (!root) continue;
    const list = events.get(job.id) ?? [];
    const seqOfKey = (key: string): number | undefined => {
      if (key.startsWith('notice:')) return Number(key.slice('notice:'.length));
      const [kind, stage, round] = key.split(':');
      const seq = list.find((e) => e.type === 'gate.opened' && e.data.stage === stage && String(e.data.round) === round)?.seq;
      // A round's .diff upload follows its card, before the next event's message.
      return seq !== undefined && kind === 'diff' ? seq + 0.5 : seq;
    };
    const byMessage = new Map<string, string>();
    for (const r of refs) if (r.job_id === job.id && r.key !== 'root') byMessage.set(r.message_id, r.key);
    // Refs of uploaded notices that do not name the upload (see uploadedWithoutId): matched to an
    // upload by what its comment says instead, each at most once.
    const unnamed = refs.filter((r) => r.job_id === job.id && r.key.startsWith('notice:') && r.message_id === 'uploaded').map((r) => r.key);
    for (const r of refs.filter((x) => x.job_id === job.id && x.message_id !== 'uploaded' && !/^\d+\.\d+$/.test(x.message_id) && !/^F[A-Z0-9]+$/.test(x.message_id))) {
      missing += 1;
      violations.push(`job ${job.id}: the stored ${r.key} message is "${r.message_id}", not a message ts or file id (its post was never confirmed)`);
    }
    unidentifiedUploads += unnamed.length;
    const claimed = new Set<string>();
    const byComment = (comment: string | undefined): string | undefined => {
      for (const key of unnamed) {
        if (claimed.has(key)) continue;
        const e = list.find((x) => x.seq === Number(key.slice('notice:'.length)));
        if (!e || !comment) continue;
        const stageName = job.def.stages.find((s) => s.id === e.data.stage) as { id: string; name?: string } | undefined;
        const fits =
          (e.type === 'stage.succeeded' && comment.includes(`${stageName?.name ?? String(e.data.stage)} done in`)) ||
          (e.type === 'job.finished' && comment.includes(`Job ${job.id} `));
        if (fits) {
          claimed.add(key);
          return key;
        }
      }
      return undefined;
    };
    let lastSeq = 0;
    let lastKey = '';
    for (const p of posts) {
      if (p.threadTs !== root.message_id) continue;
      const key = p.kind === 'message' ? byMessage.get(p.ts) : (p.fileIds.map((id) => byMessage.get(id)).find(Boolean) ?? byComment(p.comment));
      if (!key) {
        duplicates += 1;
        violations.push(`job ${job.id}: a ${p.kind} in its thread (#${p.order}) is not the stored message of any notice or gate (a duplicate post)`);
        continue;
      }
      const seq = seqOfKey(key);
      if (seq === undefined) continue;
      // Each message comes from a later event than the one before it. A gate's card mentions its
      // deciders itself, so nothing else in the thread shares its event (a reply would be a second post).
      if (seq <= lastSeq) {
        outOfOrder += 1;
        violations.push(`job ${job.id}: "${key}" (seq ${seq}) arrived after "${lastKey}" (seq ${lastSeq})`);
      }
      lastSeq = seq;
      lastKey = key;
    }
    // Every event that shows as a notice or a gate card has its message.
    for (const e of list) {
      const plan = renderPlan({ id: e.id, job: e.job, seq: e.seq, type: e.type, at: e.at, data: e.data });
      if (plan.notice && !refOf.has(`${job.id}:notice:${e.seq}`)) {
        missing += 1;
        violations.push(`job ${job.id}: the notice for ${e.type} (seq ${e.seq}) was never posted`);
      }
      if (e.type === 'gate.opened' && !refOf.has(`${job.id}:gate:${e.data.stage}:${e.data.round}`)) {
        missing += 1;
        violations.push(`job ${job.id}: the card of gate ${e.data.stage}:${e.data.round} was never posted`);
      }
    }
  }
  return { violations, figures: { duplicates, outOfOrder, missingMessages: missing, uploadRefsWithoutId: unidentifiedUploads } };
}

/** Merges check results: violations concatenated, figures combined. */
export function merge(...results: CheckResult[]): CheckResult {
  return { violations: results.flatMap((r) => r.violations), figures: Object.assign({}, ...results.map((r) => r.figures)) };
}

/**
 * Discord delivery: one root message per job in `channel` (its thread has the same id), one
 * message per notice and gate round in the thread, in event order, every notice delivered.
 * `messages` are the fake's messages in posting order.
 */
export function checkDiscordThreads(db: DbSnapshot, messages: { id: string; channel_id: string }[], channel: string): CheckResult {
  const violations: string[] = [];
  let duplicates = 0;
  let outOfOrder = 0;
  let missing = 0;
  const refs = db.refs.filter((r) => r.target === 'discord');
  const refOf = new Map(refs.map((r) => [`${r.job_id}:${r.key}`, r]));
  const events = byJob(db.events);
  const roots = new Set(refs.filter((r) => r.key === 'root').map((r) => r.message_id));
  for (const m of messages) {
    if (m.channel_id === channel && !roots.has(m.id)) {
      duplicates += 1;
      violations.push(`discord: message ${m.id} in the jobs channel is no job's root (a duplicate root post)`);
    }
  }
  for (const job of db.jobs.filter((j) => db.outbox.some((o) => o.target === 'discord' && o.job_id === j.id))) {
    const root = refOf.get(`${job.id}:root`);
    if (!root?.thread_id) {
      missing += 1;
      violations.push(`discord: job ${job.id} has no root message with a thread`);
      continue;
    }
    const list = events.get(job.id) ?? [];
    const keyOf = new Map(refs.filter((r) => r.job_id === job.id && r.key !== 'root').map((r) => [r.message_id, r.key]));
    const seqOf = (key: string) =>
      key.startsWith('notice:') ? Number(key.slice(7)) : list.find((e) => e.type === 'gate.opened' && `gate:${e.data.stage}:${e.data.round}` === key)?.seq;
    let last = 0;
    let lastKey = '';
    for (const m of messages.filter((x) => x.channel_id === root.thread_id)) {
      const key = keyOf.get(m.id);
      if (!key) {
        duplicates += 1;
        violations.push(`discord: job ${job.id}: message ${m.id} in its thread is not the stored message of any notice or gate (a duplicate post)`);
        continue;
      }
      const seq = seqOf(key) ?? 0;
      // Each message comes from a later event than the one before it (a gate's card mentions its deciders itself).
      if (seq <= last) {
        outOfOrder += 1;
        violations.push(`discord: job ${job.id}: "${key}" (seq ${seq}) arrived after "${lastKey}" (seq ${last})`);
      }
      last = seq;
      lastKey = key;
    }
    for (const e of list) {
      const plan = renderPlan({ id: e.id, job: e.job, seq: e.seq, type: e.type, at: e.at, data: e.data });
      if (plan.notice && !refOf.has(`${job.id}:notice:${e.seq}`)) {
        missing += 1;
        violations.push(`discord: job ${job.id}: the notice for ${e.type} (seq ${e.seq}) was never posted`);
      }
      if (e.type === 'gate.opened' && !refOf.has(`${job.id}:gate:${e.data.stage}:${e.data.round}`)) {
        missing += 1;
        violations.push(`discord: job ${job.id}: the card of gate ${e.data.stage}:${e.data.round} was never posted`);
      }
    }
  }
  return { violations, figures: { discordDuplicates: duplicates, discordOutOfOrder: outOfOrder, discordMissing: missing } };
}
