/**
 * Hostile and bad input: forged, stale and replayed Slack requests, clicks by the wrong people or
 * with tampered values, briefs made to ping or to overflow, control characters and broken UTF-8,
 * unknown ids, bad API calls. Each gets the answer a person should see, and changes nothing
 * (checked against a fingerprint of the job, stage, gate, vote and event rows). Refusals of
 * people who may ask are audited (`gate.refused`); requests that fail authentication leave no
 * trace at all. The fuzz runs and the bad configuration files are in hostile-fuzz.test.ts.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { ALICE, BOB, CAROL, CHANNEL, liveMarkup, MALLORY, startHostileApp, textsOf, VIC, type HostileApp } from './lib/hostile-app.js';
import { CHAOS_SIGNING_SECRET, signForm, signInteraction } from './lib/slack-driver.js';
import { sqliteOnly } from '../../src/store/store.js';

let h: HostileApp;
beforeAll(async () => {
  h = await startHostileApp();
});
afterAll(async () => {
  await h?.stop();
});

const now = () => Math.floor(Date.now() / 1000);

describe('forged, stale and replayed Slack requests', () => {
  it('answers a forged signature, a stale timestamp or missing headers with 401, and changes nothing', async () => {
    const job = await h.jobAtGate('review');
    const before = h.fingerprint();
    const refusals = h.refusals().length;
    const click = h.click(job, BOB);
    const good = signInteraction(click);
    const forged = [
      { ...good, signature: signInteraction(click, 'not-the-signing-secret').signature },
      { ...good, body: good.body.replace('signoff_gate_approve', 'signoff_gate_approve%20') },
      { ...signInteraction(click, CHAOS_SIGNING_SECRET, now() - 6 * 60), timestamp: now() - 6 * 60 },
      { ...good, signature: `v1=${good.signature.slice(3)}` },
      { ...good, signature: '' },
    ];
    for (const req of forged) expect((await h.post(req)).status, req.signature.slice(0, 12)).toBe(401);
    // Without the headers at all, or with a timestamp that is not a number.
    const bare = await fetch(`${h.url}/slack/events`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: good.body });
    expect(bare.status).toBe(401);
    expect((await h.post({ ...good }, { 'x-slack-request-timestamp': 'yesterday' })).status).toBe(401);
    // Slack's unsigned ssl_check is answered, with any smuggled payload dropped.
    const smuggled = await fetch(`${h.url}/slack/events`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `ssl_check=1&${good.body}` });
    expect(smuggled.status).toBe(200);
    expect(h.fingerprint()).toBe(before);
    expect(h.refusals()).toHaveLength(refusals);
    expect((await h.job(job)).gates[0].state).toBe('pending');
  });

  it('answers a timestamp more than five minutes in the future with 401, like a stale one', async () => {
    // Slack's rule is "within five minutes of now", either way; Bolt only checks the past.
    const job = await h.jobAtGate('review');
    const before = h.fingerprint();
    const click = h.click(job, BOB);
    const future = signInteraction(click, CHAOS_SIGNING_SECRET, now() + 60 * 60);
    const answer = await h.post(future);
    expect(answer.status, 'a request signed for an hour from now').toBe(401);
    expect(h.fingerprint()).toBe(before);
  });

  it('applies a replayed click, command or dialog once', async () => {
    // A click on a two-approval gate: a replay must not count twice, nor be refused as a second vote.
    const job = await h.jobAtGate('pair');
    const click = signInteraction(h.click(job, ALICE));
    expect((await h.post(click)).status).toBe(200);
    await waitFor(async () => (await h.job(job)).gates[0].approvals.length === 1, 'the first approval');
    const refusals = h.refusals().length;
    expect((await h.post(click)).status).toBe(200);
    expect((await h.post(click, { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' })).status).toBe(200);
    // The same action (action_ts) in a fresh request, as a client retry would send it.
    const again = signInteraction(h.click(job, ALICE));
    const payload = JSON.parse(new URLSearchParams(click.body).get('payload')!);
    const resent = JSON.parse(new URLSearchParams(again.body).get('payload')!);
    resent.actions[0].action_ts = payload.actions[0].action_ts;
    expect((await h.post(signInteraction(resent))).status).toBe(200);
    // A later, genuine click of bob's still counts: nothing is stuck behind the replays.
    const bob = h.click(job, BOB);
    await h.post(signInteraction(bob));
    await waitFor(async () => (await h.job(job)).gates[0].state === 'approved', 'the second approval');
    const votes = (await h.job(job)).gates[0].votes.map((v: { actor: string }) => v.actor);
    expect(votes).toEqual([`slack:${ALICE}`, `slack:${BOB}`]);
    expect(h.refusals()).toHaveLength(refusals);

    // A slash command replayed byte for byte (and as a Slack retry) makes one job.
    const count = () => (sqliteOnly(h.app.store).db.prepare("SELECT COUNT(*) AS n FROM jobs WHERE brief = 'replayed submit'").get() as { n: number }).n;
    const fields = h.fake.slashCommand({ user_id: ALICE, channel_id: CHANNEL, text: 'submit review replayed submit' });
    const submit = signForm(fields);
    expect((await h.post(submit)).status).toBe(200);
    await h.answerTo(fields);
    expect((await h.post(submit)).status).toBe(200);
    expect((await h.post(submit, { 'x-slack-retry-num': '2', 'x-slack-retry-reason': 'http_error' })).status).toBe(200);
    expect(count()).toBe(1);

    // A reject dialog submitted twice rejects once.
    const rejectJob = await h.jobAtGate('review', 'reject me once');
    const opened = h.click(rejectJob, BOB, { action: 'signoff_gate_reject' });
    await h.post(signInteraction(opened));
    const view = await waitFor(() => h.fake.views.find((v) => v.trigger_id === opened.trigger_id), 'the reject dialog');
    const dialog = signInteraction(h.fake.viewSubmission({ user: BOB, callback_id: 'signoff_reject', view_id: view.id, values: { reason: { reason: { type: 'plain_text_input', value: 'once is enough' } } } }));
    expect((await h.post(dialog)).status).toBe(200);
    expect((await h.post(dialog)).status).toBe(200);
    const rejected = await h.job(rejectJob);
    expect(rejected.state).toBe('rejected');
    const events = (await h.api('GET', `/jobs/${rejectJob}/events`)).body.events.map((e: { type: string }) => e.type);
    expect(events.filter((t: string) => t === 'gate.voted' || t === 'gate.rejected' || t === 'gate.refused')).toEqual(['gate.voted', 'gate.rejected']);
  });
});

describe('clicks by the wrong people, on the wrong gates, with tampered values', () => {
  it('refuses people who may not decide, privately, and changes nothing', async () => {
    const job = await h.jobAtGate('review');
    const before = h.fingerprint();
    for (const who of [MALLORY, VIC, CAROL]) {
      const { delivery, answer } = await h.clickAndAnswer(h.click(job, who));
      expect(delivery.status).toBe(200);
      expect(answer, who).toContain('You may not decide the "draft" gate: it needs a member of editors');
    }
    expect(h.fingerprint()).toBe(before);
    expect(h.refusals().filter((r) => r.job === job)).toEqual([MALLORY, VIC, CAROL].map((u) => ({ job, code: 'not_authorised', actor: `slack:${u}` })));
    // A non-operator cannot use commands to decide either.
    const typed = await h.command(MALLORY, `approve ${job} draft`);
    expect(typed.answer).toContain('You are not a signoff operator here');
    expect(h.fingerprint()).toBe(before);
  });

  it("refuses the submitter's own approval on a gate that needs someone else's", async () => {
    const { answer: submitted } = await h.command(ALICE, 'submit review my own job');
    const job = Number(/Job (\d+)/.exec(submitted)?.[1]);
    await waitFor(() => h.recorder.card(job, 'draft', 1), 'the draft card');
    const before = h.fingerprint();
    const { answer } = await h.clickAndAnswer(h.click(job, ALICE));
    expect(answer).toContain(`You submitted job ${job}, and the "draft" gate needs someone else's approval.`);
    expect(h.fingerprint()).toBe(before);
  });

  it("refuses a button value tampered to name another job's gate the clicker may not decide", async () => {
    const mine = await h.jobAtGate('review');
    const secret = await h.jobAtGate('secret');
    const before = h.fingerprint();
    const { answer } = await h.clickAndAnswer(h.click(mine, ALICE, { value: JSON.stringify({ j: secret, s: 'draft', r: 1 }) }));
    expect(answer).toContain('You may not decide the "draft" gate: it needs a member of directors');
    expect(h.fingerprint()).toBe(before);
    expect((await h.job(secret)).gates[0].state).toBe('pending');
  });

  it('refuses a click on a decided gate, saying who decided and when', async () => {
    const job = await h.jobAtGate('review');
    expect((await h.post(signInteraction(h.click(job, BOB)))).status).toBe(200);
    await waitFor(async () => (await h.job(job)).gates[0].state === 'approved', 'the approval');
    await waitFor(async () => (await h.job(job)).state === 'succeeded', 'the job to finish');
    const before = h.fingerprint();
    for (const who of [ALICE, BOB]) {
      const { answer } = await h.clickAndAnswer(h.fake.blockAction({ user: who, channel: CHANNEL, message_ts: h.recorder.card(job, 'draft', 1)!.ts, action_id: 'signoff_gate_approve', value: JSON.stringify({ j: job, s: 'draft', r: 1 }) }));
      expect(answer).toMatch(/The "draft" gate was already approved by u0bob at \d{4}-\d\d-\d\dT/);
    }
    expect(h.fingerprint()).toBe(before);
  });

  it('refuses tampered action values, and names unknown jobs and rounds', async () => {
    const job = await h.jobAtGate('review');
    const before = h.fingerprint();
    const notOurs = 'That button is not one signoff made, so nothing changed.';
    const cases: [string, string][] = [
      ['', notOurs],
      ['approve', notOurs],
      ['{"j":1}', notOurs],
      [JSON.stringify({ j: job, s: 'draft', r: 1, admin: true }), notOurs],
      [JSON.stringify({ j: -job, s: 'draft', r: 1 }), notOurs],
      [JSON.stringify({ j: job, s: 'draft', r: 0 }), notOurs],
      [JSON.stringify({ j: 1e300, s: 'draft', r: 1 }), notOurs],
      [JSON.stringify({ j: String(job), s: 'draft', r: 1 }), notOurs],
      [JSON.stringify({ j: job, s: 'Draft"; DROP TABLE gates; --', r: 1 }), notOurs],
      [`{"j":${job},"s":"draft","r":1,"__proto__":{"admin":true}}`, notOurs],
      [JSON.stringify({ j: job, s: 'x'.repeat(3000), r: 1 }), notOurs],
      [JSON.stringify({ j: 987654321, s: 'draft', r: 1 }), 'There is no job 987654321.'],
      [JSON.stringify({ j: job, s: 'draft', r: 7 }), `Job ${job} has no gate on stage "draft" open`],
      [JSON.stringify({ j: job, s: 'final', r: 1 }), `Job ${job} has no gate on stage "final" open`],
    ];
    for (const [value, expected] of cases) {
      const { answer } = await h.clickAndAnswer(h.click(job, BOB, { value }));
      expect(answer, value.slice(0, 60)).toContain(expected);
    }
    expect(h.fingerprint()).toBe(before);
    expect((await h.job(job)).gates[0].state).toBe('pending');
  });
});

describe('briefs made to ping, to overflow, or to break encodings', () => {
  const mentionsOk = [/^<@U0ALICE>$/, /^<!date\^\d+\^/];

  it('keeps mentions and links typed in a brief inert in every message', async () => {
    const typed = 'Ping <!channel> <!here> <!everyone> @everyone @here <@U0BOB> <@U0BOB|bob> <!subteam^S0DIR|@dirs> <#C0OTHER> <https://evil.example|click me> &lt;!channel&gt; done';
    const { answer } = await h.command(ALICE, `submit review ${typed}`);
    const job = Number(/Job (\d+)/.exec(answer)?.[1]);
    expect(job).toBeGreaterThan(0);
    // The brief is kept as typed (Slack's own escaping of & < > undone once).
    expect((await h.job(job)).brief).toContain('<!channel> <!here> <!everyone> @everyone');
    const viaApi = (await h.api('POST', '/jobs', { json: { pipeline: 'review', brief: `api says ${typed}` } })).body.job.id as number;
    for (const id of [job, viaApi]) await waitFor(() => h.recorder.card(id, 'draft', 1), `the card of job ${id}`);
    await waitFor(() => (sqliteOnly(h.app.store).db.prepare('SELECT COUNT(*) AS n FROM outbox WHERE job_id IN (?, ?) AND delivered_at IS NULL').get(job, viaApi) as { n: number }).n === 0, 'both jobs delivered');
    const roots = sqliteOnly(h.app.store).db.prepare("SELECT message_id FROM chat_refs WHERE target = 'slack' AND key = 'root' AND job_id IN (?, ?)").all(job, viaApi) as { message_id: string }[];
    const messages = h.fake.messageList(CHANNEL).filter((m) => roots.some((r) => r.message_id === m.ts || r.message_id === m.thread_ts));
    expect(messages.length).toBeGreaterThanOrEqual(4);
    for (const m of messages) {
      for (const text of textsOf(m)) {
        // The card's line and notification text that mention the gate's deciders are our own words
        // and the configured editors (alice only when she did not submit); nothing of the brief is in them.
        if (text.startsWith('🔔 ')) expect(text).toMatch(/^🔔 Waiting for( <@U0ALICE>)? <@U0BOB>$/);
        else if (text.startsWith('✋ Approval needed: ')) expect(text).toMatch(/^✋ Approval needed: draft of job \d+( — waiting for( <@U0ALICE>)? <@U0BOB>)?$/);
        else expect(liveMarkup(text, mentionsOk), text.slice(0, 200)).toEqual([]);
      }
    }
    // Both open cards mention their deciders, in a block and in the notification text.
    expect(messages.flatMap(textsOf).filter((t) => t.startsWith('🔔 Waiting for '))).toHaveLength(2);
    expect(messages.flatMap(textsOf).filter((t) => / — waiting for (<@U0ALICE> )?<@U0BOB>$/.test(t))).toHaveLength(2);
    // The typed markup is shown, escaped.
    expect(messages.flatMap(textsOf).join('\n')).toContain('&lt;!channel&gt;');
  });

  it('takes a 100 KB brief within Slack limits (the whole brief uploaded), and refuses a longer one', async () => {
    const brief = `${'🐝 bees <!channel> & more '.repeat(4_000)}`.slice(0, 100_000);
    const created = await h.api('POST', '/jobs', { json: { pipeline: 'review', brief } });
    expect(created.status).toBe(201);
    const job = created.body.job.id as number;
    await waitFor(() => h.recorder.card(job, 'draft', 1), 'the draft card');
    const root = sqliteOnly(h.app.store).db.prepare("SELECT message_id FROM chat_refs WHERE target = 'slack' AND key = 'root' AND job_id = ?").get(job) as { message_id: string };
    const message = h.fake.message(CHANNEL, root.message_id)!;
    expect(message.blocks!.length).toBeLessThanOrEqual(50);
    for (const block of message.blocks as { text?: { text: string } }[]) expect(block.text?.text.length ?? 0).toBeLessThanOrEqual(3000);
    const upload = await waitFor(() => h.fake.uploads.find((u) => u.threadTs === root.message_id && u.filename === 'brief.txt'), 'the whole brief in the thread');
    expect(upload.bytes.toString('utf8')).toBe(brief.trim());
    // One more character is refused with the limit named; a 100 KB slash command gets an answer.
    const tooLong = await h.api('POST', '/jobs', { json: { pipeline: 'review', brief: `${brief}x` } });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.message).toContain('the limit is 100000');
    const before = h.fingerprint();
    const typed = await h.command(ALICE, `submit review ${brief}`);
    expect(typed.delivery.status).toBe(200);
    expect(typed.answer.length).toBeGreaterThan(0);
    expect(typed.answer).not.toMatch(/Job \d+ \(review\)/);
    expect(h.fingerprint()).toBe(before);
  });

  it('strips control characters from a typed brief, and the job runs', async () => {
    const { answer } = await h.command(ALICE, 'submit cmd bell\u0007 nul\u0000 esc\u001b[31mred\u001b[0m del\u007f bidi\u202e end');
    const job = Number(/Job (\d+)/.exec(answer)?.[1]);
    const done = await waitFor(async () => {
      const j = await h.job(job);
      return ['succeeded', 'failed'].includes(j.state) && j;
    }, 'the cmd job to finish');
    expect(done.state).toBe('succeeded');
    expect(done.brief).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
  });

  it('does not let a NUL or other control character in an API brief break the job', async () => {
    const r = await h.api('POST', '/jobs', { json: { pipeline: 'cmd', brief: 'from the api: nul\u0000 esc\u001b[31m bell\u0007 end' } });
    // Either refused with a clear message, or cleaned and run: never accepted and then failed.
    if (r.status === 400) {
      expect(r.body.message).toMatch(/control|character/i);
      return;
    }
    expect(r.status).toBe(201);
    const done = await waitFor(async () => {
      const j = await h.job(r.body.job.id);
      return ['succeeded', 'failed'].includes(j.state) && j;
    }, 'the cmd job to finish');
    expect(done.error, 'the stage error').toBeNull();
    expect(done.state).toBe('succeeded');
  });

  it('answers invalid UTF-8 in a form body without a 5xx, and changes nothing unless the request is properly signed', async () => {
    const before = h.fingerprint();
    const fields = h.fake.slashCommand({ user_id: ALICE, channel_id: CHANNEL, text: 'submit review PLACEHOLDER' });
    const text = new URLSearchParams(fields).toString();
    const [head, tail] = text.split('PLACEHOLDER') as [string, string];
    const raw = Buffer.concat([Buffer.from(`${head}bad `), Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xa0]), Buffer.from(` bytes${tail}`)]);
    const ts = now();
    const sig = `v0=${createHmac('sha256', CHAOS_SIGNING_SECRET).update(Buffer.concat([Buffer.from(`v0:${ts}:`), raw])).digest('hex')}`;
    const res = await fetch(`${h.url}/slack/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': String(ts), 'x-slack-signature': sig },
      body: raw,
    });
    // Bolt verifies the signature over the body decoded as UTF-8, so raw bytes signed as bytes do not verify.
    expect(res.status).toBe(401);
    expect(h.fingerprint()).toBe(before);
    // Percent-encoded invalid bytes are valid ASCII on the wire: the job is made, with U+FFFD where they were.
    const encoded = h.fake.slashCommand({ user_id: ALICE, channel_id: CHANNEL, text: 'PLACEHOLDER' });
    const body = new URLSearchParams(encoded).toString().replace('PLACEHOLDER', 'submit+review+bad+%FF%FE+bytes');
    const signed = await h.post({ body, timestamp: ts, signature: `v0=${createHmac('sha256', CHAOS_SIGNING_SECRET).update(`v0:${ts}:${body}`).digest('hex')}`, contentType: 'application/x-www-form-urlencoded' });
    expect(signed.status).toBe(200);
    const answer = await h.answerTo(encoded);
    const job = Number(/Job (\d+)/.exec(answer)?.[1]);
    expect((await h.job(job)).brief).toBe('bad \uFFFD\uFFFD bytes');
    // The API: invalid UTF-8 inside a JSON body is read as U+FFFD, never a 500.
    const apiRaw = Buffer.concat([Buffer.from('{"pipeline":"review","brief":"api '), Buffer.from([0xff, 0xc0, 0x80]), Buffer.from(' bytes"}')]);
    const viaApi = await fetch(`${h.url}/api/v1/jobs`, { method: 'POST', headers: { authorization: 'Bearer hostile-api-token-0123456789abcdef', 'content-type': 'application/json' }, body: apiRaw });
    expect([201, 400]).toContain(viaApi.status);
  });
});

describe('unknown ids and bad API calls', () => {
  it('names unknown pipelines and jobs, in Slack and in the API, and changes nothing', async () => {
    const job = await h.jobAtGate('review');
    const before = h.fingerprint();
    expect((await h.command(ALICE, 'submit nosuch make it')).answer).toContain('There is no pipeline "nosuch"');
    expect((await h.command(ALICE, 'status 987654321')).answer).toContain('987654321');
    expect((await h.command(ALICE, 'approve 987654321 draft')).answer).toContain('There is no job 987654321');
    expect((await h.command(BOB, `approve ${job} nosuch`)).answer).toContain(`has no gate on stage "nosuch"`);
    const api: [string, string, unknown, number][] = [
      ['POST', '/jobs', { pipeline: 'nosuch', brief: 'x' }, 404],
      ['GET', '/jobs/987654321', undefined, 404],
      ['GET', '/jobs/abc', undefined, 400],
      ['GET', '/jobs/-1', undefined, 400],
      ['POST', '/jobs/987654321/gates/draft/approve', {}, 404],
      ['POST', `/jobs/${job}/gates/nosuch/approve`, {}, 404],
      ['POST', `/jobs/${job}/gates/draft/destroy`, {}, 400],
      ['POST', '/jobs/987654321/cancel', {}, 404],
      ['GET', '/artifacts/987654321', undefined, 404],
      ['GET', '/jobs/987654321/events', undefined, 404],
    ];
    for (const [method, route, json, status] of api) {
      const r = await h.api(method, route, json === undefined ? {} : { json });
      expect(r.status, `${method} ${route}`).toBe(status);
      expect(typeof r.body?.message, `${method} ${route} explains itself`).toBe('string');
    }
    expect(h.fingerprint()).toBe(before);
  });

  it('refuses missing or wrong tokens, oversized and malformed bodies', async () => {
    const job = await h.jobAtGate('review');
    const before = h.fingerprint();
    const approve = `/jobs/${job}/gates/draft/approve`;
    const cases: [string, Parameters<HostileApp['api']>[2], number][] = [
      ['no token', { token: null, json: {} }, 401],
      ['wrong token', { token: 'hostile-api-token-0123456789abcdeX', json: {} }, 401],
      ['basic auth', { token: null, json: {}, headers: { authorization: 'Basic YXBpOnRva2Vu' } }, 401],
      ['empty bearer', { token: null, json: {}, headers: { authorization: 'Bearer ' } }, 401],
      ['unknown actor', { json: {}, headers: { 'x-signoff-actor': 'slack:U0NOBODY' } }, 403],
      ['forged actor syntax', { json: {}, headers: { 'x-signoff-actor': 'api' } }, 403],
      ['malformed json', { raw: '{"reason": "x",', headers: { 'content-type': 'application/json' } }, 400],
      ['json array', { raw: '[1,2,3]', headers: { 'content-type': 'application/json' } }, 400],
      ['extra key', { json: { reason: 'x', admin: true } }, 400],
      ['proto key', { raw: '{"reason":"x","__proto__":{"admin":true}}', headers: { 'content-type': 'application/json' } }, 400],
      ['text body', { raw: 'approve please', headers: { 'content-type': 'text/plain' } }, 415],
      ['oversized', { raw: JSON.stringify({ reason: 'x'.repeat(300_000) }), headers: { 'content-type': 'application/json' } }, 413],
    ];
    for (const [what, o, status] of cases) {
      const r = await h.api('POST', approve, o);
      expect(r.status, what).toBe(status);
      expect(typeof r.body?.message, `${what} explains itself`).toBe('string');
    }
    // A GET token in the query works for GETs only.
    expect((await h.api('POST', `${approve}?access_token=hostile-api-token-0123456789abcdef`, { token: null, json: {} })).status).toBe(401);
    expect((await h.api('POST', '/jobs', { token: null, json: { pipeline: 'review', brief: 'no token' } })).status).toBe(401);
    expect((await h.api('POST', '/jobs', { raw: JSON.stringify({ pipeline: 'review', brief: 'y'.repeat(300_000) }), headers: { 'content-type': 'application/json' } })).status).toBe(413);
    expect(h.fingerprint()).toBe(before);
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });
});

describe('what operators read', () => {
  it('names the process metrics signoff_process_<what>, as documented (no second "process_")', async () => {
    const text = await fetch(`${h.url}/metrics`).then((res) => res.text());
    const names = [...new Set(text.split('\n').filter((l) => l.startsWith('signoff_process_')).map((l) => l.split(/[{ ]/)[0]))];
    expect(names).toContain('signoff_process_resident_memory_bytes');
  });
});
