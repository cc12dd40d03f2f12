/**
 * The round diff and the approval note as each surface renders them, pure: within Slack's and
 * Discord's limits for absurd files, with text from files and notes inert, and the note on the
 * decided card and in the audit; a note over the cap is refused and changes nothing.
 */
import { describe, expect, it } from 'vitest';
import { diffField } from '../../src/bot/discord/diff-render.js';
import { gateMessage } from '../../src/bot/discord/render.js';
import { diffBlocks } from '../../src/bot/slack/diff-blocks.js';
import { gateBlocks, SLACK_LIMITS } from '../../src/bot/slack/blocks.js';
import { gateCardView } from '../../src/bot/views/gate-card.js';
import { roundDiffView } from '../../src/bot/views/round-diff.js';
import { approvalNotesBefore, MAX_APPROVAL_NOTE } from '../../src/orchestrator/approval-notes.js';
import { createJob } from '../../src/orchestrator/create-job.js';
import { actorFor } from '../../src/orchestrator/policy.js';
import { transition } from '../../src/orchestrator/transition.js';
import type { Effect, JobAggregate, JobInput } from '../../src/orchestrator/types.js';
import { computeRoundDiff, type DiffSide } from '../../src/review/round-diff.js';
import { configFrom, FakeClock, QUICK_PIPELINE } from '../helpers/fixtures.js';

const HOSTILE = '<!channel> <@U123> @everyone <@&456> ``` **b** <https://x|y> &amp;';
const side = (id: number, text: string): DiffSide => ({ artifactId: id, name: 'script.md', mediaType: 'text/markdown', size: text.length, sha256: `h${id}-${text.length}`, text });
const at = { stage: 'script', round: 2, previousRound: 1, run: 2, previousRun: 1 };

function hostileDiff() {
  // Every tenth line is rewritten, one of them into a 5000-character line.
  const old = Array.from({ length: 300 }, (_, i) => `line ${i} ${'x'.repeat(10)}`).join('\n');
  const now = Array.from({ length: 300 }, (_, i) => (i % 10 === 0 ? `${HOSTILE} ${i} ${'y'.repeat(i === 10 ? 5000 : 10)}` : `line ${i} ${'x'.repeat(10)}`)).join('\n');
  return roundDiffView(computeRoundDiff(at, [side(1, old)], [side(2, now)]));
}

describe('the diff on a Slack card', () => {
  it('stays within a section, keeps file text inert and cannot close its fence', () => {
    const blocks = diffBlocks(hostileDiff());
    const texts = blocks.map((b) => (b as { text: { text: string } }).text.text);
    for (const t of texts) expect(t.length).toBeLessThanOrEqual(SLACK_LIMITS.sectionText);
    const fence = texts[1]!;
    expect(fence.startsWith('```\n@@ script.md\n')).toBe(true);
    expect(fence.endsWith('\n```')).toBe(true);
    expect(fence.slice(3, -3)).not.toContain('```');
    expect(fence).toContain('&lt;!channel&gt; &lt;@U123&gt;');
    expect(fence).not.toMatch(/<[!@]/);
    expect(texts[0]).toBe('*Changes since round 1:* +30 −30 lines in script.md');
  });

  it('says "too large" when the diff was over the caps', () => {
    const big = 'z\n'.repeat(200_000);
    const view = roundDiffView(computeRoundDiff(at, [side(1, big)], [side(2, `${big}q\n`)]));
    const texts = diffBlocks(view).map((b) => (b as { text: { text: string } }).text.text);
    expect(texts).toEqual(['*Changes since round 1:* script.md changed (diff too large, see the files) _(diff too large, see the files)_']);
  });
});

describe('the diff on a Discord card', () => {
  it('fits one embed field, as a ```diff block whose text cannot close it or ping anyone', () => {
    const field = diffField(hostileDiff());
    expect(field.name).toBe('🔁 Changes since round 1');
    expect(field.value.length).toBeLessThanOrEqual(1024);
    expect(field.value).toMatch(/^\+30 −30 lines in script\.md\n```diff\n@@ script\.md\n/);
    expect(field.value.endsWith('\n```')).toBe(true);
    expect(field.value.slice(field.value.indexOf('```diff') + 7, -3)).not.toContain('```');
    expect(field.value).toContain('@\u200beveryone');
    expect(field.value).not.toMatch(/@everyone|<@&456>/);
  });
});

// ---------------------------------------------------------------- approval notes, pure

const config = configFrom(QUICK_PIPELINE);
function drive() {
  const clock = new FakeClock();
  let agg: JobAggregate = createJob({ id: 7, pipeline: 'quick', def: config.pipelines.quick!, brief: 'Bees', params: {}, submitter: 'console:alice', origin: { surface: 'console' }, targets: [] }, clock.now()).agg;
  const effects: Effect[] = [];
  const send = (input: JobInput) => {
    const r = transition(agg, input, clock.now());
    agg = r.agg;
    effects.push(...r.effects);
    return r.reply;
  };
  const actor = (user: string) => actorFor(config.operators, { platform: 'console', user });
  return { send, actor, effects, get agg() { return agg; } };
}

describe('approve with a note', () => {
  it('refuses a note over the cap, changing nothing but the audit', () => {
    const j = drive();
    j.send({ type: 'start' });
    j.send({ type: 'stage.succeeded', stage: 'outline', run: 1, artifacts: [] });
    const before = structuredClone(j.agg);
    const r = j.send({ type: 'vote', actor: j.actor('bob'), stage: 'outline', vote: 'approve', reason: 'n'.repeat(MAX_APPROVAL_NOTE + 1) });
    expect(r).toEqual({ ok: false, code: 'invalid', message: `An approval note may be at most ${MAX_APPROVAL_NOTE} characters; yours has ${MAX_APPROVAL_NOTE + 1}. Shorten it and approve again.` });
    expect({ ...j.agg, job: { ...j.agg.job, version: 0, lastSeq: 0 } }).toEqual({ ...before, job: { ...before.job, version: 0, lastSeq: 0 } });
    expect(j.effects.at(-1)).toMatchObject({ type: 'event', event: 'gate.refused', data: { code: 'invalid' } });
  });

  it('shows the note on the decided card, escaped on each surface, keeps it in gate.approved, and hands it on', () => {
    const j = drive();
    j.send({ type: 'start' });
    j.send({ type: 'stage.succeeded', stage: 'outline', run: 1, artifacts: [] });
    const note = `fine, but check the intro timing ${HOSTILE}`;
    expect(j.send({ type: 'vote', actor: j.actor('bob'), stage: 'outline', vote: 'approve', reason: note })).toMatchObject({ ok: true });
    expect(j.effects.find((e) => e.type === 'event' && e.event === 'gate.approved')).toMatchObject({ data: { notes: [{ by: 'bob', note }] } });
    const card = gateCardView(j.agg, j.agg.gates[0]!, []);
    expect(card.outcome).toMatchObject({ label: 'Approved by bob', reason: note });
    const slack = JSON.stringify(gateBlocks(card).blocks);
    expect(slack).toContain('fine, but check the intro timing &lt;!channel&gt; &lt;@U123&gt;');
    expect(slack).not.toContain('<!channel>');
    const discord = gateMessage(card);
    expect(discord.embeds[0]!.description).toContain('fine, but check the intro timing <!channel> <@\u200bU123>');
    expect(discord.embeds[0]!.description).not.toMatch(/@everyone|<@&456>/);
    expect(discord.allowed_mentions).toEqual({ parse: [] });
    expect(approvalNotesBefore(j.agg, 'script')).toEqual([{ stage: 'outline', round: 1, by: 'bob', note }]);
    expect(approvalNotesBefore(j.agg, 'outline')).toEqual([]);
  });
});
