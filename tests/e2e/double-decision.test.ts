/**
 * Several processes decide the same gate at the same moment, on one SQLite file or one PostgreSQL
 * database. A decision is a compare-and-set (on PostgreSQL behind a row lock): exactly one wins,
 * the others are told who decided, and nothing is recorded twice.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Engine } from '../../src/orchestrator/engine.js';
import { configFrom, silentLog } from '../helpers/fixtures.js';
import { STORES, freshPlace, openAt, type StoreKind } from '../helpers/stores.js';
import { REPO, writeConfig } from '../helpers/signoff-process.js';
import { waitFor } from '../helpers/wait.js';

const YAML = (min: number) => `
operators:
  team: { console: [p1, p2, p3, p4, p5, p6] }
pipelines:
  one:
    stages:
      - id: ship
        run: { builtin: outline }
        gate: { required: true, approvers: [team], min_approvals: ${min}, allow_self_approval: true }
`;

async function race(kind: StoreKind, min: number, deciders: { user: string; action: 'approve' | 'reject' }[]) {
  const place = await freshPlace(kind);
  const dir = place.dataDir;
  const configPath = writeConfig(dir, YAML(min));
  const store = await openAt(place);
  const engine = new Engine({ store, config: configFrom(YAML(min)), dataDir: dir, baseDir: REPO, log: silentLog, tickSchedule: false });
  const submitted = (await engine.submit({ platform: 'api', user: 'api' }, { pipeline: 'one', brief: 'race', origin: { surface: 'api' } }));
  if (!submitted.ok) throw new Error(submitted.message);
  const id = submitted.jobId;
  await waitFor(async () => (await store.jobs.load(id))!.job.state === 'awaiting_approval', 'the gate to open');
  const goFile = path.join(dir, 'go');
  const procs = deciders.map(({ user, action }) => {
    const p = spawn(process.execPath, [path.join(REPO, 'tests/fixtures/decide.mjs'), dir, configPath, user, action, goFile, String(id), ...(place.databaseUrl ? [place.databaseUrl] : [])], { cwd: REPO });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    const done = new Promise<string>((resolve) => p.on('exit', () => resolve(out)));
    return { ready: () => out.includes('ready'), done };
  });
  await waitFor(() => procs.every((p) => p.ready()), 'every decider to be ready');
  fs.writeFileSync(goFile, 'go');
  const replies = (await Promise.all(procs.map((p) => p.done))).map((out) => JSON.parse(out.split('\n')[1]!));
  const agg = (await store.jobs.load(id))!;
  const events = (await store.events.forJob(id)).map((e) => e.type);
  await engine.stop();
  await store.close();
  return { replies, agg, events };
}

describe.each(STORES)('simultaneous decisions on one gate (%s)', (kind) => {
  it('six approvers at once on a 1-approval gate: one approval, five "already approved by …"', async () => {
    const { replies, agg, events } = await race(kind, 1, ['p1', 'p2', 'p3', 'p4', 'p5', 'p6'].map((user) => ({ user, action: 'approve' as const })));
    const won = replies.filter((r) => r.ok);
    expect(won).toHaveLength(1);
    const gate = agg.gates[0]!;
    expect(gate.state).toBe('approved');
    expect(gate.votes).toHaveLength(1);
    for (const r of replies.filter((r) => !r.ok)) {
      expect(r.code).toBe('already_decided');
      expect(r.message).toContain(`already approved by ${gate.decidedBy}`);
    }
    expect(events.filter((e) => e === 'gate.approved')).toHaveLength(1);
    expect(agg.job.state).toBe('succeeded');
  });

  it('approvals and rejections at once on a 2-approval gate: exactly one outcome, never both', async () => {
    const { replies, agg, events } = await race(kind, 2, [
      { user: 'p1', action: 'approve' }, { user: 'p2', action: 'approve' }, { user: 'p3', action: 'reject' },
      { user: 'p4', action: 'approve' }, { user: 'p5', action: 'reject' },
    ]);
    const gate = agg.gates[0]!;
    const decided = events.filter((e) => e === 'gate.approved' || e === 'gate.rejected');
    expect(decided).toHaveLength(1);
    expect(['approved', 'rejected']).toContain(gate.state);
    // Every vote that was stored was accepted by its caller, and every refusal says the gate was decided.
    const accepted = replies.filter((r) => r.ok).length;
    expect(gate.votes).toHaveLength(accepted);
    for (const r of replies.filter((r) => !r.ok)) expect(r.code).toBe('already_decided');
    if (gate.state === 'approved') expect(gate.votes.filter((v) => v.vote === 'approve')).toHaveLength(2);
    else expect(gate.votes.at(-1)!.vote).toBe('reject');
  });
});
