/**
 * The Discord renderer and command definitions: messages built from the real neutral views of a
 * job driven through the pure state machine. What matters is that text people type stays inert,
 * that Discord's limits hold for absurd inputs, that gate buttons exist exactly while a decision
 * is possible, and that ids coming back from Discord are read strictly.
 */
import { ApplicationCommandOptionType, embedLength, type APIEmbed } from 'discord.js';
import { describe, expect, it } from 'vitest';
import { helpText, USAGE } from '../../src/bot/commands/parse.js';
import { autocompleteChoices, commandFromOptions, signoffCommand, type OptionReader } from '../../src/bot/discord/commands.js';
import {
  cutText, discordEscape, DISCORD_LIMITS as L, gateCustomId, gateMessage, noticeMessage, parseGateCustomId, parseRejectModalId, rejectModal, statusMessage, textReply,
} from '../../src/bot/discord/render.js';
import { gateCardView } from '../../src/bot/views/gate-card.js';
import { jobStatusView } from '../../src/bot/views/job-status.js';
import { noticeFor } from '../../src/bot/views/notice.js';
import type { Config } from '../../src/config/schema.js';
import { createJob } from '../../src/orchestrator/create-job.js';
import { actorFor } from '../../src/orchestrator/policy.js';
import { transition } from '../../src/orchestrator/transition.js';
import type { JobAggregate, JobInput } from '../../src/orchestrator/types.js';
import type { StoredEvent } from '../../src/store/store.js';
import { configFrom, FakeClock, OPERATORS, QUICK_PIPELINE } from '../helpers/fixtures.js';

const config = configFrom(QUICK_PIPELINE);
const INJECTION = '@everyone @here <@123> <@!123> <@&456> **bold** __u__ ||spoiler|| [link](https://evil.example) ```fence``` \\*x';
const MENTIONS = ['@everyone', '@here', '<@123>', '<@!123>', '<@&456>'];
const MARKDOWN = ['**bold**', '__u__', '||spoiler||', '```fence```'];
/** A masked link not preceded by the backslash that makes it text. */
const LINK = /(?<!\\)\[link\]\(/;

/** Text outside code blocks, where markdown would be rendered; inside them it is shown as typed. */
const outsideCode = (text: string) => text.replace(/```[\s\S]*?```/g, '');

/** A job moved by inputs, keeping the events it produced as stored events. */
function drive(opts: { brief?: string; cfg?: Config; pipeline?: string } = {}) {
  const cfg = opts.cfg ?? config;
  const pipeline = opts.pipeline ?? 'quick';
  const clock = new FakeClock();
  const created = createJob({ id: 7, pipeline, def: cfg.pipelines[pipeline]!, brief: opts.brief ?? 'Bees', params: {}, submitter: 'discord:1001', origin: { surface: 'discord' }, targets: ['discord'] }, clock.now());
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

function pendingOutline() {
  const j = drive();
  j.send({ type: 'start' });
  j.send({ type: 'stage.succeeded', stage: 'outline', run: 1, summary: 'Outline: 5 sections', artifacts: [] });
  return j;
}

function expectWithinLimits(msg: { content: string; embeds?: APIEmbed[]; components?: unknown[]; allowed_mentions: unknown }) {
  expect(msg.allowed_mentions).toEqual({ parse: [] });
  expect(msg.content.length).toBeLessThanOrEqual(L.content);
  for (const e of msg.embeds ?? []) {
    expect(embedLength(e)).toBeLessThanOrEqual(L.embedTotal);
    expect(e.title?.length ?? 0).toBeLessThanOrEqual(L.title);
    expect(e.description?.length ?? 0).toBeLessThanOrEqual(L.description);
    expect(e.fields?.length ?? 0).toBeLessThanOrEqual(L.fields);
    for (const f of e.fields ?? []) {
      expect(f.name.length).toBeLessThanOrEqual(L.fieldName);
      expect(f.value.length).toBeLessThanOrEqual(L.fieldValue);
    }
  }
  for (const id of JSON.stringify(msg.components ?? []).match(/"custom_id":"[^"]*"/g) ?? []) expect(id.length - 14).toBeLessThanOrEqual(L.customId);
}

describe('escaping and cutting', () => {
  it('escapes markdown and breaks mentions, keeping the text readable', () => {
    const out = discordEscape(INJECTION);
    for (const raw of [...MENTIONS, ...MARKDOWN]) expect(out).not.toContain(raw);
    expect(out).not.toMatch(LINK);
    expect(out).toContain('@\u200beveryone');
    expect(out).toContain('<@\u200b&456>');
    expect(out).toContain('\\*\\*bold\\*\\*');
    expect(out).toContain('\\\\\\*x'); // the typed backslash is escaped too, so it cannot undo ours
    expect(discordEscape('> quote\n# head\n- item\n-# small')).toBe('\\> quote\n\\# head\n\\- item\n\\-# small');
  });

  it('cuts with a marker, never inside a surrogate pair or after half an escape', () => {
    expect(cutText('abcdef', 6)).toBe('abcdef');
    expect(cutText('abcdef', 4)).toBe('abc…');
    expect(cutText('ab😀cd', 4)).toBe('ab…');
    expect(cutText('ab\\*cd', 4)).toBe('ab…');
  });
});

describe('status message', () => {
  it('keeps a mention or markdown typed into the brief, a summary, a reason or an error inert everywhere', () => {
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
    const status = jobStatusView(j.agg, null);
    const messages = [
      statusMessage(status),
      statusMessage({ ...status, error: INJECTION }),
      gateMessage(rejected),
      gateMessage(redo, { excerpts: [{ name: INJECTION, text: INJECTION }] }),
      ...j.events.map((e) => noticeFor(e, j.agg, [])).filter((n) => n !== null).map(noticeMessage),
      textReply(INJECTION),
      textReply(Array.from({ length: 10 }, () => INJECTION).join('\n')),
    ];
    const json = JSON.stringify(messages);
    for (const raw of MENTIONS) expect(json).not.toContain(raw);
    for (const raw of MARKDOWN) expect(outsideCode(json)).not.toContain(raw);
    expect(outsideCode(json)).not.toMatch(LINK);
    expect(json).toContain('```\\n@\u200beveryone'); // excerpts and long answers: code blocks, mentions still broken
    // The submitter (a Discord user id too short to be a snowflake) is shown by name, not as a mention.
    expect(json).not.toMatch(/<@(?!\u200b)/);
    for (const m of messages) expectWithinLimits(m);
  });

  it('shows the title, colour, state, stage lines and a progress bar', () => {
    const j = drive();
    j.send({ type: 'start' });
    j.clock.advance(2000);
    j.send({ type: 'stage.succeeded', stage: 'outline', run: 1, summary: 'Outline: 5 sections', artifacts: [] });
    j.send({ type: 'vote', actor: j.actor('bob'), stage: 'outline', vote: 'approve' });
    const msg = statusMessage(jobStatusView(j.agg, null));
    const [embed] = msg.embeds;
    expect(msg.content).toBe('🔄 Job 7 · quick: Running script');
    expect(embed).toMatchObject({ title: '🔄 Job 7 · quick', color: 0x3498db });
    expect(embed!.description).toContain('**Running script** · submitted by 1001');
    expect(embed!.description).toContain('▰▱▱ 1 of 3 stages (33%)');
    expect(embed!.description).toMatch(/Submitted <t:\d+:f>/);
    expect(embed!.fields![0]).toMatchObject({ name: 'Stages', value: expect.stringContaining('✅ **outline** · 2s — Outline: 5 sections') });
    expect(embed!.description).not.toContain('full brief attached');
  });

  it('stays within the limits for a 100 KB brief and a 60-stage pipeline', () => {
    const stages = Array.from({ length: 60 }, (_, i) => `      - id: stage-${i}\n        name: "${'Long **stage** name '.repeat(4)}${i}"\n        run: { builtin: outline }\n`).join('');
    const cfg = configFrom(`${OPERATORS}\npipelines:\n  big:\n    stages:\n${stages}`);
    const j = drive({ brief: '@everyone *a* <@123> '.repeat(5_000), cfg, pipeline: 'big' });
    j.send({ type: 'start' });
    for (let i = 0; i < 30; i++) j.send({ type: 'stage.succeeded', stage: `stage-${i}`, run: j.run(`stage-${i}`), summary: 'x'.repeat(500), artifacts: [] });
    const view = jobStatusView(j.agg, null);
    const msg = statusMessage({ ...view, error: 'e'.repeat(5000) });
    expectWithinLimits(msg);
    const [embed] = msg.embeds;
    expect(embed!.description).toContain('…\n*(full brief attached)*');
    expect(embed!.description).toContain('30 of 60 stages (50%)');
    const stageText = embed!.fields!.filter((f) => f.name.startsWith('Stages')).map((f) => f.value).join('\n');
    expect(stageText).toMatch(/\n… and \d+ more stages$/);
    expect(embed!.fields!.at(-1)).toMatchObject({ name: 'Error', value: expect.stringMatching(/…$/) });
    expect(JSON.stringify(msg)).not.toContain('@everyone');
  });

  it('keeps a gate card within the limits when everything on it is huge', () => {
    const j = drive();
    j.send({ type: 'start' });
    j.send({ type: 'stage.succeeded', stage: 'outline', run: 1, summary: '*s* '.repeat(25_000), artifacts: [] });
    const card = gateCardView(j.agg, j.agg.gates[0]!, []);
    const huge = {
      ...card, redoReason: 'r'.repeat(100_000), approvers: Array.from({ length: 500 }, (_, i) => `group-${i}`),
      approvals: { count: 500, needed: 500, names: Array.from({ length: 500 }, (_, i) => `person ${i}`) },
      artifacts: Array.from({ length: 500 }, (_, i) => ({ id: i, name: `file-${i}.md`, stage: 'outline', size: 1, mediaType: 'text/markdown' })),
    };
    const excerpts = Array.from({ length: 10 }, (_, i) => ({ name: `x${i}.md`.repeat(100), text: '`'.repeat(5000) }));
    const pending = gateMessage(huge, { excerpts });
    const decided = gateMessage({ ...huge, actions: [], outcome: { label: 'Rejected by '.repeat(1000), by: 'bob', at: 0, reason: 'why '.repeat(10_000) } }, { excerpts });
    for (const msg of [pending, decided]) {
      expectWithinLimits(msg);
      expect(msg.embeds[0]!.description).toMatch(/…/);
    }
    expect(pending.components).toHaveLength(1);
    expect(decided.components).toEqual([]);
    expect(decided.embeds[0]!.description).toMatch(/<t:0:f>\nReason: “why why .*…”$/);
  });
});

describe('gate message', () => {
  it('offers Approve, Reject and Hold with the gate in their custom ids while pending', () => {
    const j = pendingOutline();
    const card = gateCardView(j.agg, j.agg.gates[0]!, []);
    const msg = gateMessage(card, { excerpts: [{ name: 'outline.md', text: `# Outline\n\`\`\`evil\`\`\`\n${'y'.repeat(5000)}` }], imageName: 'story board.svg' });
    expectWithinLimits(msg);
    expect(msg.components).toHaveLength(1);
    const buttons = msg.components[0]!.components;
    expect(buttons.map((b) => ['custom_id' in b ? b.custom_id : '', b.style, 'label' in b ? b.label : ''])).toEqual([
      ['sg:a:7:outline:1', 3, 'Approve'], ['sn:7:outline:1', 3, 'Approve with note…'], ['sg:r:7:outline:1', 4, 'Reject'], ['sg:h:7:outline:1', 2, 'Hold'],
    ]);
    const [embed] = msg.embeds;
    expect(embed!.color).toBe(0xf1a208);
    expect(embed!.image).toEqual({ url: 'attachment://story_board.svg' });
    expect(embed!.description).toContain('Approvals: 0 of 1');
    expect(embed!.description).toMatch(/auto-approves <t:\d+:R>/);
    const excerpt = embed!.fields!.find((f) => f.name.includes('outline.md'))!;
    expect(excerpt.value.length).toBeLessThanOrEqual(L.fieldValue);
    expect(excerpt.value).toMatch(/^```\n[\s\S]*…\n```$/);
    expect(excerpt.value.match(/```/g)).toHaveLength(2);
  });

  it('sends no components once decided, so an edit removes the buttons, and shows the outcome', () => {
    const j = pendingOutline();
    j.send({ type: 'vote', actor: j.actor('bob'), stage: 'outline', vote: 'reject', reason: 'too vague' });
    const msg = gateMessage(gateCardView(j.agg, j.agg.gates[0]!, []));
    expect(msg.components).toEqual([]);
    expect(msg.embeds[0]!.description).toMatch(/\*\*Rejected by bob\*\* · <t:\d+:f>\nReason: “too vague”$/);
    expect(msg.content).toContain('Rejected by bob');
    expect(msg.embeds[0]!.color).toBe(0xe74c3c);
  });

  it('shows a quorum tally with names and a timeout with what happens then', () => {
    const j = pendingOutline();
    j.send({ type: 'vote', actor: j.actor('bob'), stage: 'outline', vote: 'approve' });
    j.send({ type: 'stage.succeeded', stage: 'script', run: 1, artifacts: [] });
    expect(gateMessage(gateCardView(j.agg, j.agg.gates[1]!, [])).embeds[0]!.description).toMatch(/times out <t:\d+:R> \(then reject\)/);
    j.send({ type: 'vote', actor: j.actor('bob'), stage: 'script', vote: 'approve' });
    j.send({ type: 'stage.succeeded', stage: 'storyboard', run: 1, artifacts: [] });
    j.send({ type: 'vote', actor: j.actor('carol'), stage: 'storyboard', vote: 'approve' });
    const msg = gateMessage(gateCardView(j.agg, j.agg.gates[2]!, []));
    expect(msg.embeds[0]!.description).toContain('Approvals: 1 of 2 (carol)');
    expect(msg.components[0]!.components.map((b) => ('custom_id' in b ? b.custom_id : ''))).toEqual(['sg:a:7:storyboard:1', 'sn:7:storyboard:1', 'sg:r:7:storyboard:1']);
  });

  it('round-trips custom ids and refuses tampered ones', () => {
    const ref = { jobId: 999_999_999_999_999, stage: 'a'.repeat(40), round: 1_000_000 };
    const id = gateCustomId('hold', ref);
    expect(id.length).toBeLessThanOrEqual(L.customId);
    expect(parseGateCustomId(id)).toEqual({ action: 'hold', job: ref.jobId, stage: ref.stage, round: ref.round });
    expect(parseGateCustomId('sg:a:12:script:2')).toEqual({ action: 'approve', job: 12, stage: 'script', round: 2 });
    for (const bad of [
      'sg:a:12:script:2:x', 'sg:a:12:script', 'sg:x:12:script:2', 'sg:a:0:script:2', 'sg:a:012:script:2', 'sg:a:-1:script:2', 'sg:a:1.5:script:2',
      'sg:a:1e3:script:2', 'sg:a:1234567890123456:script:2', 'sg:a:12:Script:2', 'sg:a:12:../x:2', 'sg:a:12:script:0', 'sg:a:12:script:1000001',
      'sg:a:12: script:2', 'sg:a:12:script:2 ', `sg:a:12:${'s'.repeat(100)}:2`, 'sg:reject:12:script:2', '', 'xsg:a:12:script:2',
    ]) expect(parseGateCustomId(bad), bad).toBeUndefined();
    expect(() => gateCustomId('approve', { jobId: 0, stage: 'x', round: 1 })).toThrow(/not valid/);
  });

  it('asks for a required reason in the Reject modal and reads its id back', () => {
    const modal = rejectModal({ job: 7, stage: 'script', round: 2 });
    expect(modal.custom_id).toBe('sg:reject:7:script:2');
    expect(modal.title.length).toBeLessThanOrEqual(45);
    expect(JSON.stringify(modal.components)).toContain('"custom_id":"reason"');
    expect(modal.components[0]).toMatchObject({ component: { type: 4, custom_id: 'reason', style: 2, required: true, min_length: 1, max_length: 2000 } });
    expect(parseRejectModalId(modal.custom_id)).toEqual({ job: 7, stage: 'script', round: 2 });
    for (const bad of ['sg:reject:7:script', 'sg:reject:7:script:2:1', 'sg:r:7:script:2', 'sg:reject:x:script:2']) expect(parseRejectModalId(bad)).toBeUndefined();
  });
});

describe('notices and plain answers', () => {
  it('renders a notice with its files and cuts it to 2000 characters', () => {
    const n = noticeMessage({ kind: 'notice', jobId: 1, seq: 1, at: 0, icon: '✅', tone: 'good', text: 'outline done',
      artifacts: [{ id: 1, name: 'outline.md', stage: 'outline', size: 1, mediaType: 'text/markdown' }] });
    expect(n).toEqual({ content: '✅ outline done\n📎 outline.md', allowed_mentions: { parse: [] } });
    const long = noticeMessage({ kind: 'notice', jobId: 1, seq: 1, at: 0, icon: '❌', tone: 'bad', text: 'z'.repeat(5000), artifacts: [] });
    expect(long.content.length).toBeLessThanOrEqual(L.content);
    expect(long.content).toMatch(/…$/);
  });

  it('puts long multi-line answers in a code block, cut at line ends with a count', () => {
    expect(textReply('Job 12 not found.').content).toBe('Job 12 not found.');
    const help = textReply(helpText());
    expect(help.content).toMatch(/^```\n[\s\S]*\n```$/);
    expect(help.content).toContain(USAGE.submit);
    const long = textReply(Array.from({ length: 500 }, (_, i) => `line ${i} ${'z'.repeat(40)}`).join('\n'));
    expectWithinLimits(long);
    expect(long.content).toMatch(/\n… \d+ more lines not shown\n```$/);
  });
});

describe('slash command', () => {
  const json = signoffCommand(['demo', 'release']);
  const subs = new Map((json.options ?? []).map((o) => [o.name, o]));
  const opts = (name: string) => ((subs.get(name) as { options?: { name: string; type: number; required?: boolean; autocomplete?: boolean }[] }).options ?? [])
    .map((o) => [o.name, o.type, o.required ?? false, o.autocomplete ?? false]);
  const S = ApplicationCommandOptionType.String;
  const I = ApplicationCommandOptionType.Integer;

  it('defines every subcommand with typed options, guild only, under 8000 characters', () => {
    expect([...subs.keys()].sort()).toEqual(Object.keys(USAGE).sort());
    for (const o of json.options ?? []) expect(o.type).toBe(ApplicationCommandOptionType.Subcommand);
    expect(opts('submit')).toEqual([['pipeline', S, true, true], ['brief', S, true, false], ['params', S, false, false]]);
    expect(opts('status')).toEqual([['job', I, true, true]]);
    expect(opts('list')).toEqual([['state', S, false, false]]);
    expect(opts('cancel')).toEqual([['job', I, true, true], ['reason', S, false, false]]);
    expect(opts('reject')).toEqual([['job', I, true, true], ['stage', S, true, true], ['reason', S, true, false]]);
    for (const name of ['approve', 'hold']) expect(opts(name)).toEqual([['job', I, true, true], ['stage', S, true, true]]);
    for (const name of ['retry', 'audit']) expect(opts(name)).toEqual([['job', I, true, true]]);
    expect(opts('pipelines')).toEqual([]);
    expect(opts('help')).toEqual([['topic', S, false, false]]);
    expect(JSON.stringify(subs.get('list'))).toContain('"value":"awaiting_approval"');
    expect(JSON.stringify(subs.get('submit'))).toContain('demo, release');
    expect(json.contexts).toEqual([0]);
    const text = JSON.stringify(json);
    expect(text.length).toBeLessThan(8000);
    for (const d of text.match(/"description":"[^"]*"/g) ?? []) expect(d.length - 16).toBeLessThanOrEqual(100);
  });

  const reader = (values: Record<string, string | number>): OptionReader => ({
    string: (n) => (typeof values[n] === 'string' ? values[n] : null),
    integer: (n) => (typeof values[n] === 'number' ? values[n] : null),
  });

  it('turns typed options into the shared command', () => {
    const cases: [string, Record<string, string | number>, unknown][] = [
      ['submit', { pipeline: 'Demo', brief: ' "x=y" is a plot ', params: 'version=1.4 title="Big news"' }, { name: 'submit', pipeline: 'demo', params: { version: '1.4', title: 'Big news' }, brief: '"x=y" is a plot' }],
      ['submit', { pipeline: 'demo', brief: 'Bees' }, { name: 'submit', pipeline: 'demo', params: {}, brief: 'Bees' }],
      ['status', { job: 12 }, { name: 'status', job: 12 }],
      ['retry', { job: 12 }, { name: 'retry', job: 12 }],
      ['audit', { job: 12 }, { name: 'audit', job: 12 }],
      ['cancel', { job: 12 }, { name: 'cancel', job: 12 }],
      ['cancel', { job: 12, reason: 'not needed' }, { name: 'cancel', job: 12, reason: 'not needed' }],
      ['approve', { job: 12, stage: 'script' }, { name: 'approve', job: 12, stage: 'script' }],
      ['hold', { job: 12, stage: 'outline' }, { name: 'hold', job: 12, stage: 'outline' }],
      ['reject', { job: 12, stage: 'script', reason: '"Too long", cut it' }, { name: 'reject', job: 12, stage: 'script', reason: '"Too long", cut it' }],
      ['list', {}, { name: 'list' }],
      ['list', { state: 'awaiting_approval' }, { name: 'list', state: 'awaiting_approval' }],
      ['pipelines', {}, { name: 'pipelines' }],
      ['help', {}, { name: 'help' }],
      ['help', { topic: 'submit' }, { name: 'help', topic: 'submit' }],
    ];
    for (const [sub, values, command] of cases) expect(commandFromOptions(sub, reader(values)), sub).toEqual({ ok: true, command });
  });

  it('refuses bad options with the usage line', () => {
    const bad: [string, Record<string, string | number>, RegExp][] = [
      ['submit', { pipeline: 'demo', brief: 'x', params: 'version=1 oops' }, /"oops" is not key=value/],
      ['submit', { pipeline: 'demo', brief: 'x', params: 'a=1 a=2' }, /given twice/],
      ['submit', { pipeline: 'demo', brief: 'x', params: 'title="unclosed' }, /Unclosed quote/],
      ['submit', { pipeline: 'demo x=1', brief: 'x' }, /not a pipeline name/],
      ['submit', { pipeline: 'Bad!', brief: 'x' }, /not a pipeline name/],
      ['submit', { pipeline: 'demo', brief: '  ' }, /A brief is needed/],
      ['status', {}, /needs a job id/],
      ['status', { job: 0 }, /not a job id/],
      ['approve', { job: 1, stage: 'a b' }, /not a stage id/],
      ['approve', { job: 1, stage: '../x' }, /not a stage id/],
      ['reject', { job: 1, stage: 'script', reason: ' ' }, /needs a reason/],
      ['list', { state: 'bogus' }, /not a job state/],
      ['frobnicate', {}, /Unknown command/],
    ];
    for (const [sub, values, message] of bad) {
      const r = commandFromOptions(sub, reader(values));
      expect(r.ok, `${sub} ${JSON.stringify(values)}`).toBe(false);
      if (!r.ok) expect(r.message).toMatch(message);
      if (!r.ok && sub !== 'frobnicate') expect(r.message).toContain('Usage: /signoff');
    }
  });

  it('autocompletes by prefix and caps at 25 choices of at most 100 characters', () => {
    const jobs = Array.from({ length: 60 }, (_, i) => ({ id: i + 1, pipeline: i % 2 ? 'demo' : 'release', state: 'awaiting_approval', brief: `Brief ${i}\n${'long '.repeat(40)}` }));
    const data = { pipelines: ['demo', 'release', 'redo'], jobs, stages: ['outline', 'script', 'storyboard'] };
    expect(autocompleteChoices({ name: 'pipeline', value: 're' }, data)).toEqual([{ name: 'release', value: 'release' }, { name: 'redo', value: 'redo' }]);
    expect(autocompleteChoices({ name: 'stage', value: 'S' }, data).map((c) => c.value)).toEqual(['script', 'storyboard']);
    const all = autocompleteChoices({ name: 'job', value: '' }, data);
    expect(all).toHaveLength(25);
    for (const c of all) expect(c.name.length).toBeLessThanOrEqual(100);
    expect(all[0]).toMatchObject({ value: 1, name: expect.stringMatching(/^#1 · release · awaiting approval · Brief 0 long/) });
    expect(autocompleteChoices({ name: 'job', value: '#1' }, data).map((c) => c.value)).toEqual([1, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    expect(autocompleteChoices({ name: 'job', value: 'brief 42' }, data).map((c) => c.value)).toEqual([43]);
    expect(autocompleteChoices({ name: 'reason', value: 'x' }, data)).toEqual([]);
  });
});
