/**
 * A SQLite data directory holding a job in every state, made by driving the real engine: Slack
 * commands through the fake Slack (so the directory has chat message refs, outbox rows and inbox
 * claims), decisions and cancels through the API, a fake clock for the optional gate's timer.
 * Used by the `signoff migrate` tests as the directory to copy.
 */
import { ApiClient } from './api-client.js';
import { FakeSlack } from './fake-slack.js';
import { ALICE, API_TOKEN, CAROL, drained, slash, startSlackApp, waitForGateCard, responsesTo } from './slack-harness.js';
import { FakeClock, chatTestConfig, tempDir } from './fixtures.js';
import { redoPipelines } from './redo-pipeline.js';
import { waitFor } from './wait.js';

/** The configuration the directory was made with (signoff started on it later needs the same pipelines). */
export const EVERY_STATE_YAML = chatTestConfig(`
operators:
  editors: { slack: [U0ALICE, U0BOB], console: [alice, bob] }
  directors: { slack_usergroups: [S0DIR], console: [carol] }
  viewers: { console: [dave] }
submitters: [editors, directors]`)
  .replace('max_concurrent_jobs: 4', 'max_concurrent_jobs: 3')
  .concat(`  manual:
    stages:
      - id: sign
        run: { external: { timeout: 2h } }
        gate: { required: true, approvers: [editors] }
  broken:
    stages:
      - id: boom
        run: { command: ["sh", "-c", "printf 'the tool is missing\\\\000 (a NUL byte)\\\\n' >&2; exit 3"] }
${redoPipelines()}
`);

export interface EveryStateDir {
  dataDir: string;
  /** Job ids by the state each was left in. */
  jobs: Record<'succeeded' | 'rejected' | 'failed' | 'cancelled' | 'awaiting_approval' | 'awaiting_round_two' | 'running' | 'queued', number>;
}

/**
 * Builds the directory (about 5-10 s); signoff is stopped when this returns. With `o.fake` the
 * messages are made on that fake Slack, which stays open (a test that starts signoff again on
 * the copy sees its messages edited); otherwise on a fake of its own, closed at the end.
 */
export async function everyStateDataDir(o: { fake?: FakeSlack } = {}): Promise<EveryStateDir> {
  const dataDir = tempDir('signoff-every-state-');
  const fake = o.fake ?? (await FakeSlack.start());
  fake.usergroups.set('S0DIR', [CAROL]);
  const clock = new FakeClock(Date.now());
  const h = await startSlackApp({ fake, mode: 'http', clock, yaml: EVERY_STATE_YAML, dataDir });
  const api = new ApiClient(h.app.url, API_TOKEN);
  const bob = { actor: 'console:bob' };
  const submit = async (text: string) => {
    const sent = await slash(fake, h.eventsUrl, { user: ALICE, text });
    const answer = await waitFor(() => responsesTo(fake, sent.fields.response_url!)[0], `the answer to "/signoff ${text}"`);
    const id = Number(/Job (\d+)/.exec(answer.text)?.[1]);
    if (!id) throw new Error(`no job in the answer "${answer.text}"`);
    return id;
  };
  const passOutline = async (id: number) => {
    await waitForGateCard(fake, id, 'outline');
    clock.advance(30_001);
    await h.app.engine.tick();
    return api.waitAtGate(id, 'script');
  };
  const ok = async (r: Promise<{ status: number; text: string }>) => {
    const res = await r;
    if (res.status !== 200) throw new Error(`expected 200, got ${res.status} ${res.text}`);
  };
  try {
    const succeeded = await submit('submit quick A film about bees');
    await passOutline(succeeded);
    await ok(api.gate(succeeded, 'script', 'approve', bob));
    await api.waitAtGate(succeeded, 'storyboard');
    await ok(api.gate(succeeded, 'storyboard', 'approve', bob));
    await ok(api.gate(succeeded, 'storyboard', 'approve', { actor: 'console:carol' }));
    await api.waitForJob(succeeded, (j) => j.state === 'succeeded', 'succeeded');

    const rejected = await submit('submit quick A film about wasps');
    await api.waitAtGate(rejected, 'outline');
    await ok(api.gate(rejected, 'outline', 'reject', { ...bob, json: { reason: 'not <!channel> wasps' } }));
    await api.waitForJob(rejected, (j) => j.state === 'rejected', 'rejected');

    const failed = await submit('submit broken Build the thing');
    await api.waitForJob(failed, (j) => j.state === 'failed', 'failed');

    const cancelled = await submit('submit quick A film about ants');
    await api.waitAtGate(cancelled, 'outline');
    await ok(api.post(`/api/v1/jobs/${cancelled}/cancel`, { json: { reason: 'no longer needed' } }));
    await api.waitForJob(cancelled, (j) => j.state === 'cancelled', 'cancelled');

    const roundTwo = await submit('submit redo A film about moths');
    await api.waitAtGate(roundTwo, 'write');
    await ok(api.gate(roundTwo, 'write', 'reject', { ...bob, json: { reason: 'make the ending shorter' } }));
    await ok(api.post(`/api/v1/jobs/${roundTwo}/retry`));
    await api.waitForJob(roundTwo, (j) => j.state === 'awaiting_approval' && j.gates.some((g: { stage: string; round: number }) => g.stage === 'write' && g.round === 2), 'round 2');

    const awaiting = await submit('submit quick A film about beetles');
    await passOutline(awaiting);
    await ok(api.gate(awaiting, 'script', 'approve', bob));
    await api.waitAtGate(awaiting, 'storyboard');
    await ok(api.gate(awaiting, 'storyboard', 'approve', bob));

    const running = await submit('submit manual Sign the release');
    await api.waitForJob(running, (j) => j.state === 'running' && j.stages.some((s: { state: string }) => s.state === 'running'), 'running, waiting for the external system');

    const queued = await submit('submit quick A film about flies');
    await api.waitForJob(queued, (j) => j.state === 'queued', 'queued');

    for (const id of [succeeded, rejected, failed, cancelled, roundTwo, awaiting, running, queued]) await drained(h.app, id);
    // An interaction acknowledged but not yet carried out when signoff stopped: it is carried out at the next start.
    await h.app.store.inbox.accept('slack:pending-click', clock.now(), JSON.stringify({ kind: 'test', note: 'carried out at the next start' }));
    return { dataDir, jobs: { succeeded, rejected, failed, cancelled, awaiting_approval: awaiting, awaiting_round_two: roundTwo, running, queued } };
  } finally {
    await h.app.stop();
    if (!o.fake) await fake.close();
  }
}
