import { afterEach, expect, it } from 'vitest';
import { FakeSlack } from '../helpers/fake-slack.js';
import { FakeClock } from '../helpers/fixtures.js';
import { ALICE, BOB, CAROL, startSlackApp, slash, posts, waitForGateCard, buttons, clickPayload, interact, drained } from '../helpers/slack-harness.js';
import { waitFor } from '../helpers/wait.js';

it('explore', async () => {
  const fake = await FakeSlack.start();
  fake.usergroups.set('S0DIR', [CAROL]);
  const clock = new FakeClock(Date.now());
  const h = await startSlackApp({ fake, mode: 'http', clock });
  const r = await slash(fake, h.eventsUrl, { user: ALICE, text: 'submit quick Bees <!channel> <@U123> & more' });
  console.log('slash', r.res.status, r.res.text, r.ms);
  await waitForGateCard(fake, 1, 'outline');
  clock.advance(31_000); h.app.engine.tick();
  const card = await waitForGateCard(fake, 1, 'script');
  const b = buttons(card.message.blocks);
  const res = await interact(h.eventsUrl, clickPayload(fake, card.message, b.Approve!, BOB));
  console.log('click', res.status, res.text);
  const c2 = await waitForGateCard(fake, 1, 'storyboard');
  await interact(h.eventsUrl, clickPayload(fake, c2.message, buttons(c2.message.blocks).Approve!, BOB));
  await interact(h.eventsUrl, clickPayload(fake, c2.message, buttons(c2.message.blocks).Approve!, CAROL));
  await waitFor(() => h.app.store.jobs.load(1)!.job.state === 'succeeded', 'done');
  await drained(h.app, 1);
  for (const c of fake.calls) console.log(c.method, JSON.stringify(c.args).slice(0, 1500));
  console.log(JSON.stringify(fake.responses, null, 1));
  console.log(JSON.stringify(fake.uploads.map(u => ({...u, bytes: u.bytes.length}))));
  await h.stop(); await fake.close();
});
