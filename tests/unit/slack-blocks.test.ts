/**
 * The Slack renderer: Block Kit built from the real neutral views of a job driven through the
 * pure state machine. What matters is that text people type stays inert, that Slack's limits
 * hold for absurd inputs, and that gate buttons exist exactly while a decision is possible.
 */
import { describe, expect, it } from 'vitest';
import { createJob } from '../../src/orchestrator/create-job.js';
import { actorFor } from '../../src/orchestrator/policy.js';
import { transition } from '../../src/orchestrator/transition.js';
import type { JobAggregate, JobInput } from '../../src/orchestrator/types.js';
import { helpText } from '../../src/bot/commands/parse.js';
import { gateCardView } from '../../src/bot/views/gate-card.js';
import { jobStatusView } from '../../src/bot/views/job-status.js';
import { noticeFor } from '../../src/bot/views/notice.js';
import { gateBlocks, gateValue, noticeBlocks, parseGateValue, SLACK_LIMITS, statusBlocks, textBlocks, type SlackMessage } from '../../src/bot/slack/blocks.js';
import { cut, cutMrkdwn, escapeMrkdwn, slackDate, unescapeSlackText } from '../../src/bot/slack/mrkdwn.js';
import { type PipelineChoice, readReject, readSubmit, rejectModal, submitModal, type SubmittedView } from '../../src/bot/slack/modals.js';
import type { Config } from '../../src/config/schema.js';
import type { StoredEvent } from '../../src/store/store.js';
import { configFrom, FakeClock, OPERATORS, QUICK_PIPELINE } from '../helpers/fixtures.js';

const config = configFrom(QUICK_PIPELINE);
const INJECTION = '<!channel> <@U123> <https://x|y> & <b>';

/** A job moved by inputs, keeping the events it produced as stored events. */
function drive(opts: { brief?: string; cfg?: Config; pipeline?: string } = {}) {
  const cfg = opts.cfg ?? config;
  const pipeline = opts.pipeline ?? 'quick';
  const clock = new FakeClock();
  const created = createJob({ id: 7, pipeline, def: cfg.pipelines[pipeline]!, brief: opts.brief ?? 'Bees', params: {}, submitter: 'slack:U0ALICE', origin: { surface: 'slack' }, targets: ['slack'] }, clock.now());
  let agg: JobAggregate = created.agg;
  const events: StoredEvent[] = [];
  const send = (input: JobInput) => {
    const r = transition(agg, input, clock.now());
    agg = r.agg;
    for (const e of r.effects) if (e.type === 'event') events.push({ id: events.length + 1, job: 7, seq: events.length + 1, type: e.event, at: clock.now(), data: e.data });
    return r.reply;
  };
  const run = (stage: string) => agg.stages.find((s) => s.stage === stage)!.run;
  const actor = (user: string) => actorFor(cfg.operators, { platform: 'console', user });
  return { clock, send, run, actor, get agg() { return agg; }, events };
}

/** Every mrkdwn/plain text in a message, wherever it sits. */
function texts(msg: SlackMessage): string[] {
  const found: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if ((o.type === 'mrkdwn' || o.type === 'plain_text') && typeof o.text === 'string') found.push(o.text);
      Object.values(o).forEach(walk);
    }
  };
  walk(msg.blocks);
  return found;
}

function expectWithinLimits(msg: SlackMessage) {
  expect(msg.blocks.length).toBeLessThanOrEqual(SLACK_LIMITS.blocks);
  expect(msg.text.length).toBeLessThanOrEqual(SLACK_LIMITS.sectionText);
  for (const b of msg.blocks) {
    if (b.type === 'section') expect(b.text!.text.length).toBeLessThanOrEqual(SLACK_LIMITS.sectionText);
    if (b.type === 'header') expect(b.text.text.length).toBeLessThanOrEqual(SLACK_LIMITS.header);
    if (b.type === 'context') expect(b.elements.length).toBeLessThanOrEqual(SLACK_LIMITS.contextElements);
    if (b.type === 'actions') expect(b.elements.length).toBeLessThanOrEqual(SLACK_LIMITS.actionsElements);
  }
  for (const t of texts(msg)) expect(t.length).toBeGreaterThan(0);
}

describe('mrkdwn helpers', () => {
  it('escapes the three control characters and reads slash-command text back in one pass', () => {
    expect(escapeMrkdwn(INJECTION)).toBe('&lt;!channel&gt; &lt;@U123&gt; &lt;https://x|y&gt; &amp; &lt;b&gt;');
    expect(escapeMrkdwn('*bold* _it_ ~s~ `c`')).toBe('*bold* _it_ ~s~ `c`');
    expect(unescapeSlackText('a &lt;b&gt; &amp;lt; &amp;')).toBe('a <b> &lt; &');
  });

  it('cuts with a marker, never inside a surrogate pair or an entity', () => {
    expect(cut('abcdef', 6)).toEqual({ text: 'abcdef', cut: false });
    expect(cut('abcdef', 4)).toEqual({ text: 'abc…', cut: true });
    expect(cut('ab😀cd', 4)).toEqual({ text: 'ab…', cut: true });
    expect(cutMrkdwn('ab &amp; cd', 6)).toEqual({ text: 'ab…', cut: true });
  });

  it('formats a date token the reader sees in their own timezone', () => {
    expect(slackDate(Date.UTC(2026, 0, 1, 9, 0, 0))).toBe('<!date^1767258000^{date_short_pretty} at {time}|2026-01-01 09:00 UTC>');
    expect(slackDate(0, '{time}', 'a<b')).toBe('<!date^0^{time}|a&lt;b>');
  });
});

describe('status message', () => {
  it('keeps a mention typed into the brief, a reason or an error inert everywhere', () => {
    const j = drive({ brief: INJECTION });
    j.send({ type: 'start' });
    j.send({ type: 'stage.succeeded', stage: 'outline', run: j.run('outline'), summary: INJECTION, artifacts: [] });
    j.send({ type: 'vote', actor: j.actor('bob'), stage: 'outline', vote: 'reject', reason: INJECTION });
    const rejected = gateCardView(j.agg, j.agg.gates[0]!, []);
    j.send({ type: 'retry', actor: j.actor('bob') });
    j.send({ type: 'start' });
    j.send({ type: 'stage.succeeded', stage: 'outline', run: j.run('outline'), summary: 'again', artifacts: [] });
    const redo = gateCardView(j.agg, j.agg.gates.at(-1)!, []);
    expect(redo.redoReason).toBe(INJECTION);
    const notices = j.events.map((e) => noticeFor(e, j.agg, [])).filter((n) => n !== null);
    const messages = [
      statusBlocks(jobStatusView(j.agg, null)),
      gateBlocks(rejected),
      gateBlocks(redo, { excerpts: [{ name: INJECTION, text: INJECTION }] }),
      ...notices.map(noticeBlocks),
      textBlocks(INJECTION),
    ];
    const json = JSON.stringify(messages);
    for (const raw of ['<!channel>', '<@U123>', '<https://x|y>', '<b>']) expect(json).not.toContain(raw);
    expect(json).toContain('&lt;!channel&gt;');
    // The only markup left is ours: date tokens and the submitter's mention.
    expect(json.match(/<(?!!date\^\d+\^)(?!@U0ALICE>)/g)).toBeNull();
    expect(json.match(/&(?!amp;|lt;|gt;)/g)).toBeNull();
    for (const m of messages) expectWithinLimits(m);
  });

  it('shows the header, state, submitter, stage lines and a progress bar', () => {
    const j = drive();
    j.send({ type: 'start' });
    j.clock.advance(2000);
    j.send({ type: 'stage.succeeded', stage: 'outline', run: 1, summary: 'Outline: 5 sections', artifacts: [] });
    j.send({ type: 'vote', actor: j.actor('bob'), stage: 'outline', vote: 'approve' });
    const msg = statusBlocks(jobStatusView(j.agg, null));
    const all = texts(msg).join('\n');
    expect(msg.blocks[0]).toMatchObject({ type: 'header', text: { text: '🔄 Job 7 · quick' } });
    expect(all).toContain('*Running script* · submitted by <@U0ALICE>');
    expect(all).toContain('✅ *outline* · 2s — Outline: 5 sections');
    expect(all).toContain('▰▱▱ 1 of 3 stages');
    expect(msg.text).toBe('🔄 Job 7 · quick: Running script');
    expect(texts(statusBlocks(jobStatusView(j.agg, null), { submitterMention: false })).join('\n')).not.toContain('<@');
  });

  it('stays within the limits for a 100 KB brief and a 60-stage pipeline', () => {
    const stages = Array.from({ length: 60 }, (_, i) => `      - id: stage-${i}\n        name: "${'Long stage name '.repeat(4)}${i}"\n        run: { builtin: outline }\n`).join('');
    const cfg = configFrom(`${OPERATORS}\npipelines:\n  big:\n    stages:\n${stages}`);
    const j = drive({ brief: `${'A & <b> '.repeat(12_500)}`, cfg, pipeline: 'big' });
    j.send({ type: 'start' });
    for (let i = 0; i < 30; i++) j.send({ type: 'stage.succeeded', stage: `stage-${i}`, run: j.run(`stage-${i}`), summary: 'x'.repeat(500), artifacts: [] });
    const msg = statusBlocks(jobStatusView(j.agg, null));
    expectWithinLimits(msg);
    const all = texts(msg).join('\n');
    expect(all).toContain('…\n_(full brief in the thread)_');
    expect(all).toContain('30 of 60 stages');
    // Stage lines are cut at line ends, with a count of the ones left out.
    expect(all).toMatch(/\n… and \d+ more stages\n/);
  });
});

describe('gate message', () => {
  function pendingOutline() {
    const j = drive();
    j.send({ type: 'start' });
    j.send({ type: 'stage.succeeded', stage: 'outline', run: 1, summary: 'Outline: 5 sections', artifacts: [] });
    return j;
  }

  it('offers Approve, Reject and Hold with the gate in their value while pending', () => {
    const j = pendingOutline();
    const msg = gateBlocks(gateCardView(j.agg, j.agg.gates[0]!, []), { excerpts: [{ name: 'outline.md', text: `# Outline\n\`\`\`evil\`\`\`\n${'y'.repeat(2000)}` }] });
    expectWithinLimits(msg);
    const actions = msg.blocks.find((b) => b.type === 'actions');
    expect(actions).toMatchObject({ block_id: 'gate:7:outline:1' });
    const buttons = actions!.type === 'actions' ? actions!.elements : [];
    expect(buttons.map((b) => [b.action_id, 'style' in b ? b.style : undefined])).toEqual([
      ['signoff_gate_approve', 'primary'], ['signoff_gate_approve_note', undefined], ['signoff_gate_reject', 'danger'], ['signoff_gate_hold', undefined],
    ]);
    for (const b of buttons) expect('value' in b && b.value).toBe('{"j":7,"s":"outline","r":1}');
    const all = texts(msg).join('\n');
    expect(all).toContain('*Approvals:* 0 of 1');
    expect(all).toMatch(/\*Auto-approves\* <!date\^\d+\^/);
    const excerpt = texts(msg).find((t) => t.startsWith('*outline.md*'))!;
    expect(excerpt.length).toBeLessThan(700);
    expect(excerpt).toContain('…\n```');
    expect(excerpt.match(/```/g)).toHaveLength(2);
  });

  it('replaces the buttons with the outcome once decided', () => {
    const j = pendingOutline();
    j.send({ type: 'vote', actor: j.actor('bob'), stage: 'outline', vote: 'reject', reason: 'too vague' });
    const msg = gateBlocks(gateCardView(j.agg, j.agg.gates[0]!, []));
    expect(msg.blocks.some((b) => b.type === 'actions')).toBe(false);
    const outcome = msg.blocks.at(-1)!;
    expect(outcome.type).toBe('context');
    expect(JSON.stringify(outcome)).toContain('*Rejected by bob*');
    expect(JSON.stringify(outcome)).toContain('“too vague”');
    expect(JSON.stringify(outcome)).toMatch(/<!date\^\d+\^/);
    expect(msg.text).toContain('Rejected by bob');
  });

  it('shows a quorum tally with names and a timeout with what happens then', () => {
    const j = pendingOutline();
    j.send({ type: 'vote', actor: j.actor('bob'), stage: 'outline', vote: 'approve' });
    j.send({ type: 'stage.succeeded', stage: 'script', run: 1, artifacts: [] });
    const timeout = texts(gateBlocks(gateCardView(j.agg, j.agg.gates[1]!, []))).join('\n');
    expect(timeout).toMatch(/\*Times out\* <!date[^>]+> \(then reject\)/);
    j.send({ type: 'vote', actor: j.actor('bob'), stage: 'script', vote: 'approve' });
    j.send({ type: 'stage.succeeded', stage: 'storyboard', run: 1, artifacts: [] });
    j.send({ type: 'vote', actor: j.actor('carol'), stage: 'storyboard', vote: 'approve' });
    const msg = gateBlocks(gateCardView(j.agg, j.agg.gates[2]!, []));
    expect(texts(msg).join('\n')).toContain('*Approvals:* 1 of 2 (carol)');
    expect(JSON.stringify(msg)).not.toContain('signoff_gate_hold');
  });

  it('round-trips its value and refuses tampered ones', () => {
    expect(parseGateValue(gateValue({ jobId: 12, stage: 'script', round: 2 }))).toEqual({ job: 12, stage: 'script', round: 2 });
    for (const bad of [
      '{"j":12,"s":"script","r":1,"x":1}', '{"j":12,"s":"script"}', '{"j":-1,"s":"script","r":1}', '{"j":1e300,"s":"script","r":1}',
      '{"j":1.5,"s":"script","r":1}', '{"j":"12","s":"script","r":1}', '{"j":12,"s":"Script","r":1}', '{"j":12,"s":"../x","r":1}',
      '{"j":12,"s":"script","r":0}', '{"j":12,"s":"script","r":1,"__proto__":{}}', '[12,"script",1]', 'null', 'not json',
      `{"j":12,"s":"script","r":1}${' '.repeat(2000)}`,
    ]) expect(parseGateValue(bad), bad).toBeUndefined();
  });
});

describe('notices and plain answers', () => {
  it('renders a notice with its artifacts, and help text with its placeholders escaped', () => {
    const n = noticeBlocks({ kind: 'notice', jobId: 1, seq: 1, at: 0, icon: '✅', tone: 'good', text: 'outline done',
      artifacts: [{ id: 1, name: 'outline.md', stage: 'outline', size: 1, mediaType: 'text/markdown' }] });
    expect(texts(n)).toEqual(['✅ outline done', '📎 outline.md']);
    const help = textBlocks(helpText());
    expect(JSON.stringify(help)).toContain('/signoff submit &lt;pipeline&gt;');
    expect(texts(help)[0]).toContain('\n');
    const long = textBlocks(Array.from({ length: 5000 }, (_, i) => `line ${i} ${'z'.repeat(40)}`).join('\n'));
    expectWithinLimits(long);
    expect(texts(long).at(-1)).toMatch(/… \d+ more lines not shown$/);
  });
});

describe('modals', () => {
  const view = (values: Record<string, Record<string, { value?: string | null; selected_option?: { value: string } | null }>>, meta: unknown): SubmittedView =>
    ({ private_metadata: JSON.stringify(meta), state: { values } });

  it('asks for a required reason and reads it back with the gate it is for', () => {
    const meta = { job: 7, stage: 'script', round: 1, channel: 'C1', threadTs: '1.2', messageTs: '1.3' };
    const modal = rejectModal(meta);
    expect(modal).toMatchObject({ type: 'modal', callback_id: 'signoff_reject', title: { text: 'Reject' }, submit: { text: 'Reject' } });
    expect(modal.blocks.find((b) => b.type === 'input')).toMatchObject({
      block_id: 'reason', optional: false, element: { type: 'plain_text_input', action_id: 'reason', multiline: true, min_length: 1, max_length: 2000 },
    });
    expect(JSON.parse(modal.private_metadata!)).toEqual(meta);
    expect(readReject(view({ reason: { reason: { value: '  too long ' } } }, meta))).toEqual({ ok: true, reason: 'too long', meta });
    expect(readReject(view({ reason: { reason: { value: ' \n ' } } }, meta))).toMatchObject({ ok: false, errors: { reason: expect.any(String) } });
    expect(readReject(view({ reason: { reason: { value: 'x' } } }, { ...meta, stage: '../x' }))).toMatchObject({ ok: false });
  });

  it('offers the pipelines and reads the pipeline, brief and key=value parameters', () => {
    const pipelines: PipelineChoice[] = [
      { name: 'demo', description: 'x'.repeat(200), params: {} },
      { name: 'release', description: 'Ship it', params: { version: { description: 'semver', required: true }, title: { description: '', required: false, default: 'v' } } },
    ];
    const modal = submitModal(pipelines, { channel: 'C1' });
    expect(modal.callback_id).toBe('signoff_submit');
    expect(modal.blocks.map((b) => b.block_id)).toEqual(['pipeline', 'brief', 'params']);
    const select = (modal.blocks[0] as { element: { options: { description?: { text: string } }[] } }).element;
    expect(select).toMatchObject({ type: 'static_select', action_id: 'pipeline' });
    for (const o of select.options) expect(o.description?.text.length ?? 0).toBeLessThanOrEqual(75);
    expect(JSON.stringify(modal.blocks[2])).toContain('release: version (required) – semver; title [default v]');
    const good = view({ pipeline: { pipeline: { selected_option: { value: 'release' } } }, brief: { brief: { value: 'Spring' } }, params: { params: { value: 'version=1.4\n\nTitle = "Big news"' } } }, { channel: 'C1' });
    expect(readSubmit(good)).toEqual({ ok: true, pipeline: 'release', brief: 'Spring', params: { version: '1.4', title: 'Big news' }, channel: 'C1' });
    const bad = view({ pipeline: { pipeline: { selected_option: null } }, brief: { brief: { value: ' ' } }, params: { params: { value: 'version 1.4' } } }, { channel: 'C1' });
    expect(readSubmit(bad)).toMatchObject({ ok: false, errors: { pipeline: expect.any(String), brief: expect.any(String), params: expect.stringContaining('Line 1') } });
    const twice = view({ pipeline: { pipeline: { selected_option: { value: 'release' } } }, brief: { brief: { value: 'x' } }, params: { params: { value: 'a=1\na=2' } } }, {});
    expect(readSubmit(twice)).toMatchObject({ ok: false, errors: { params: expect.stringContaining('twice') } });
    expect(submitModal([], { channel: 'C1' }).submit).toBeUndefined();
  });
});
