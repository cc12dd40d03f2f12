import { it } from 'vitest';
import { FakeSlack } from '../helpers/fake-slack.js';
import { FakeClock } from '../helpers/fixtures.js';
import { ALICE, BOB, CAROL, API_TOKEN, startSlackApp, slash, interact, waitForGateCard } from '../helpers/slack-harness.js';
import { waitFor } from '../helpers/wait.js';

it('view ack delay when usergroups hangs', async () => {
  const fake = await FakeSlack.start();
  fake.usergroups.set('S0DIR', [CAROL]);
  const clock = new FakeClock(Date.now());
  const h = await startSlackApp({ fake, mode: 'http', clock });
  const r = await fetch(`${h.app.url}/api/v1/jobs`, { method: 'POST', headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ pipeline: 'quick', brief: 'x' }) });
  console.log(r.status);
  await waitFor(() => h.app.store.jobs.load(1)?.job.state === 'awaiting_approval', 'gate');
  fake.failNext('usergroups.users.list', { hangMs: 4000 });
  const payload = fake.viewSubmission({ user: BOB, callback_id: 'signoff_reject', private_metadata: JSON.stringify({ job: 1, stage: 'outline', round: 1, channel: 'C0JOBS' }), values: { reason: { reason: { type: 'plain_text_input', value: 'no good' } } } });
  const t = Date.now();
  const res = await interact(h.eventsUrl, payload);
  console.log('view submission answered', res.status, JSON.stringify(res.text), Date.now() - t, 'ms; job state', h.app.store.jobs.load(1)!.job.state);
  await waitFor(() => h.app.store.jobs.load(1)?.job.state === 'rejected', 'rejected', 10000);
  console.log('rejected after', Date.now() - t);
  await h.stop(); await fake.close();
});

it('socket mode basics', async () => {
  const fake = await FakeSlack.start();
  fake.usergroups.set('S0DIR', [CAROL]);
  const h = await startSlackApp({ fake, mode: 'socket' });
  await fake.socketConnected();
  const p = fake.slashCommand({ user_id: ALICE, text: 'submit quick hello', channel_id: 'C0JOBS' });
  const ack = await fake.sendEnvelope('slash_commands', p);
  console.log('ack', JSON.stringify(ack));
  await waitForGateCard(fake, 1, 'outline');
  console.log(JSON.stringify(fake.responses));
  const t = Date.now();
  await fake.disconnectSocket();
  await fake.socketConnected({ count: 2 });
  console.log('reconnect', Date.now() - t);
  await h.stop(); await fake.close();
});
