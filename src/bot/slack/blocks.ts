/**
 * The Slack renderer: neutral views (plain text data) in, Block Kit messages out. Pure, so every
 * message the bot could send is testable as a value.
 *
 * Two rules hold everywhere. Text a person typed (briefs, reasons, errors, summaries) goes only
 * into mrkdwn, escaped, with `verbatim: true` so Slack does not auto-parse it either; plain_text
 * fields (header, buttons) carry only our own words and configured names, which Slack never parses
 * for mentions. And every Block Kit limit is applied here, where the text is built, so a 100 KB
 * brief or a 60-stage pipeline still yields a message Slack accepts.
 */
import type { types } from '@slack/bolt';
import { formatDuration } from '../../config/duration.js';
import type { GateCardView, JobStatusView, NoticeView, PersonRef, StageLine } from '../views/types.js';
import { cut, cutMrkdwn, escapeCut, escapeMrkdwn, slackDate } from './mrkdwn.js';
import type { RoundDiffView } from '../views/round-diff.js';
import { diffBlocks } from './diff-blocks.js';
import { noteButton } from './note-modal.js';

// Bolt re-exports @slack/types as `types`; going through it keeps the types in step with the
// Bolt version installed, without depending on the transitive package directly.
type KnownBlock = types.KnownBlock;
type MrkdwnElement = types.MrkdwnElement;
type Button = types.Button;

/** Block Kit limits, from Slack's reference (see platform-notes.md, "Platform limits"). */
export const SLACK_LIMITS = {
  blocks: 50,
  sectionText: 3000,
  header: 150,
  buttonText: 75,
  buttonValue: 2000,
  id: 255,
  actionsElements: 25,
  contextElements: 10,
  contextText: 3000,
} as const;

/** A message ready for `chat.postMessage`/`chat.update`: blocks plus the notification text. */
export interface SlackMessage {
  /** Plain (escaped) fallback shown in notifications and by clients that cannot show blocks. */
  text: string;
  blocks: KnownBlock[];
}

/** Action ids of the gate buttons, which the adapter's `app.action` handlers listen for. */
export const GATE_ACTION_IDS = {
  approve: 'signoff_gate_approve',
  reject: 'signoff_gate_reject',
  hold: 'signoff_gate_hold',
} as const;

/** What a gate button's `value` names: job, stage and round of the card the person saw. */
export interface GateRef {
  job: number;
  stage: string;
  round: number;
}

/** Stage ids as the configuration schema allows them. */
const STAGE_RE = /^[a-z][a-z0-9_-]{0,39}$/;
/** The command grammar's job ids are at most 15 digits; anything larger was not made by us. */
const MAX_JOB = 999_999_999_999_999;
const MAX_ROUND = 1_000_000;
const MAX_STAGE_SECTIONS = 4;
const MAX_TEXT_SECTIONS = 10;
const MAX_EXCERPTS = 10;
const EXCERPT_CHARS = 600;
/** Chunks leave this much room under the section limit for a closing "… N more" line. */
const MORE_ROOM = 100;
const S = SLACK_LIMITS;

const mrkdwn = (text: string): MrkdwnElement => ({ type: 'mrkdwn', text, verbatim: true });

/** A section of already-escaped mrkdwn, cut to the limit; mrkdwn text may not be empty. */
function section(escaped: string): KnownBlock {
  return { type: 'section', text: mrkdwn(cutMrkdwn(escaped || ' ', S.sectionText).text) };
}

function header(plain: string): KnownBlock {
  return { type: 'header', text: { type: 'plain_text', text: cut(plain, S.header).text || ' ', emoji: true } };
}

function context(escapedTexts: string[]): KnownBlock {
  const elements = escapedTexts.filter(Boolean).slice(0, S.contextElements).map((t) => mrkdwn(cutMrkdwn(t, S.contextText).text));
  return { type: 'context', elements };
}

/**
 * Joins lines into as few sections as fit, at most `maxChunks`; what does not fit is replaced
 * by `more(n)`. Cutting at line ends keeps mentions, dates and entities whole.
 */
function chunkLines(lines: string[], maxChunks: number, more: (n: number) => string): string[] {
  const room = S.sectionText - MORE_ROOM;
  const chunks: string[] = [];
  let current = '';
  for (const [i, raw] of lines.entries()) {
    const line = cutMrkdwn(raw, room).text;
    const joined = current ? `${current}\n${line}` : line;
    if (current && joined.length > room) {
      if (chunks.length + 1 >= maxChunks) return [...chunks, `${current}\n${more(lines.length - i)}`];
      chunks.push(current);
      current = line;
    } else current = joined;
  }
  return current ? [...chunks, current] : chunks;
}

/** Keeps a message within the block limit even if a caller found a way past the per-part caps. */
function message(fallback: string, blocks: KnownBlock[]): SlackMessage {
  let kept = blocks;
  if (blocks.length > S.blocks) {
    const actions = blocks.filter((b) => b.type === 'actions');
    kept = [...blocks.filter((b) => b.type !== 'actions').slice(0, S.blocks - actions.length), ...actions];
  }
  return { text: escapeCut(fallback, S.sectionText).text, blocks: kept };
}

/** A person as Slack shows them: a real mention for a Slack user id, otherwise their escaped name. */
function person(p: PersonRef, mention: boolean): string {
  // The id is checked so that a crafted actor id cannot smuggle markup into the token.
  return mention && p.platform === 'slack' && /^[UW][A-Z0-9]{2,30}$/.test(p.user) ? `<@${p.user}>` : escapeMrkdwn(p.user);
}

/** `▰▰▰▱▱▱ 3 of 6 stages`; long pipelines are scaled to 20 segments. */
function progressBar(done: number, total: number): string {
  const width = Math.min(total, 20);
  const filled = total <= 20 ? done : Math.round((done / total) * width);
  return `${'▰'.repeat(filled)}${'▱'.repeat(width - filled)} ${done} of ${total} stage${total === 1 ? '' : 's'}`;
}

function stageLine(s: StageLine): string {
  const took = s.durationMs !== null ? ` · ${formatDuration(s.durationMs)}` : '';
  const note = s.note ? ` — ${escapeMrkdwn(s.note)}` : '';
  return cutMrkdwn(`${s.icon} *${escapeMrkdwn(s.name)}*${took}${note}`, 300).text;
}

/**
 * The job's root message: header, state and submitter, the brief, one line per stage, a
 * progress bar, queue position and error. With `submitterMention` (the default) a Slack
 * submitter is mentioned, so they are told about their own job.
 */
export function statusBlocks(view: JobStatusView, opts: { submitterMention?: boolean } = {}): SlackMessage {
  const blocks: KnownBlock[] = [header(`${view.icon} ${view.title}`)];
  blocks.push(section(`*${escapeMrkdwn(view.stateLabel)}* · submitted by ${person(view.submitter, opts.submitterMention ?? true)}`));
  if (view.brief) {
    const title = '*Brief*\n';
    const note = '\n_(full brief in the thread)_';
    const brief = escapeCut(view.brief, S.sectionText - title.length - note.length);
    blocks.push(section(`${title}${brief.text}${brief.cut ? note : ''}`));
  }
  const stageChunks = chunkLines(view.stages.map(stageLine), MAX_STAGE_SECTIONS, (n) => `… and ${n} more stage${n === 1 ? '' : 's'}`);
  for (const chunk of stageChunks) blocks.push(section(chunk));
  const facts = [
    view.progress.total > 0 ? progressBar(view.progress.done, view.progress.total) : '',
    view.queuePosition !== null ? `Position ${view.queuePosition} in the queue` : '',
    `Submitted ${slackDate(view.createdAt)}`,
  ];
  blocks.push(context(facts));
  if (view.error) blocks.push(section(`*Error:* ${escapeCut(view.error, S.sectionText - 20).text}`));
  return message(`${view.icon} ${view.title}: ${view.stateLabel}`, blocks);
}

/** The compact button value naming a gate round: `{"j":12,"s":"script","r":1}`. */
export function gateValue(card: Pick<GateCardView, 'jobId' | 'stage' | 'round'>): string {
  return JSON.stringify({ j: card.jobId, s: card.stage, r: card.round });
}

/**
 * Reads a gate button's value back. Button values come back from the client and can be edited
 * by anyone replaying the request, so anything but exactly the shape {@link gateValue} writes is
 * refused: bad JSON, extra or missing keys, a job or round that is not a positive whole number
 * in range, or a stage that is not a stage id.
 */
export function parseGateValue(value: string): GateRef | undefined {
  if (typeof value !== 'string' || value.length > S.buttonValue) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(value);
  } catch {
    return undefined;
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return undefined;
  const keys = Object.keys(data).sort();
  if (keys.length !== 3 || keys[0] !== 'j' || keys[1] !== 'r' || keys[2] !== 's') return undefined;
  const { j, s, r } = data as Record<string, unknown>;
  const whole = (n: unknown, max: number): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 1 && n <= max;
  if (!whole(j, MAX_JOB) || !whole(r, MAX_ROUND) || typeof s !== 'string' || !STAGE_RE.test(s)) return undefined;
  return { job: j, stage: s, round: r };
}

const BUTTONS: Record<GateCardView['actions'][number], { label: string; style?: 'primary' | 'danger' }> = {
  approve: { label: 'Approve', style: 'primary' },
  reject: { label: 'Reject', style: 'danger' },
  hold: { label: 'Hold' },
};

/** A fenced excerpt; runs of backticks in the text are broken up so they cannot close the fence. */
function codeBlock(text: string): string {
  const body = escapeCut(text.replace(/`{3,}/g, (run) => run.split('').join('\u200b')), EXCERPT_CHARS).text;
  return `\`\`\`\n${body || ' '}\n\`\`\``;
}

/**
 * The gate card: what is reviewed (with text excerpts of the artifacts when given), who may
 * decide, the tally, the deadline, and Approve / Reject / Hold buttons while the gate is open.
 * Once decided, the buttons are replaced by the outcome, so an edited card cannot be clicked.
 */
export function gateBlocks(card: GateCardView, opts: { excerpts?: { name: string; text: string }[]; diff?: RoundDiffView } = {}): SlackMessage {
  const blocks: KnownBlock[] = [header(`${card.icon} ${card.title}`)];
  if (card.text) blocks.push(section(escapeMrkdwn(card.text)));
  if (card.redoReason) blocks.push(section(`*Redo asked for:* ${escapeMrkdwn(card.redoReason)}`));
  // What changed since the rejected round (round 2 and later): see diff-blocks.ts.
  if (opts.diff) blocks.push(...diffBlocks(opts.diff));
  for (const excerpt of (opts.excerpts ?? []).slice(0, MAX_EXCERPTS)) {
    blocks.push(section(`*${escapeCut(excerpt.name, 200).text}*\n${codeBlock(excerpt.text)}`));
  }
  if (card.artifacts.length) blocks.push(context([`📎 ${escapeMrkdwn(card.artifacts.map((a) => a.name).join(', '))}`]));
  const { count, needed, names } = card.approvals;
  const facts = [
    card.approvers.length ? `*Approvers:* ${escapeMrkdwn(card.approvers.join(', '))}` : '',
    `*Approvals:* ${count} of ${needed}${names.length ? ` (${escapeMrkdwn(names.join(', '))})` : ''}`,
    card.deadline?.kind === 'auto_approve' ? `*Auto-approves* ${slackDate(card.deadline.at)} unless someone decides or holds it` : '',
    card.deadline?.kind === 'timeout' ? `*Times out* ${slackDate(card.deadline.at)}${card.deadline.onTimeout ? ` (then ${card.deadline.onTimeout})` : ''}` : '',
  ];
  blocks.push(section(facts.filter(Boolean).map((line) => cutMrkdwn(line, 700).text).join('\n')));
  if (card.actions.length) {
    const value = gateValue(card);
    const elements: Button[] = card.actions.slice(0, S.actionsElements).map((action) => {
      const { label, style } = BUTTONS[action];
      return {
        type: 'button',
        action_id: GATE_ACTION_IDS[action],
        text: { type: 'plain_text', text: cut(label, S.buttonText).text, emoji: true },
        value,
        ...(style ? { style } : {}),
      };
    });
    // "Approve with note…" goes right after Approve (see note-modal.ts).
    if (card.actions.includes('approve')) elements.splice(1, 0, noteButton(value));
    // The block id names the round too, so a click on an older card's buttons is recognisable.
    blocks.push({ type: 'actions', block_id: `gate:${card.jobId}:${card.stage}:${card.round}`.slice(0, S.id), elements });
  } else if (card.outcome) {
    const { label, reason, at } = card.outcome;
    blocks.push(context([`*${escapeMrkdwn(label)}*`, reason ? `“${escapeCut(reason, 1000).text}”` : '', at !== null ? slackDate(at) : '']));
  }
  return message(`${card.icon} ${card.title}${card.outcome ? ` — ${card.outcome.label}` : ''}`, blocks);
}

/** A thread reply: the notice's icon and text, and the names of the artifacts it brings. */
export function noticeBlocks(notice: NoticeView): SlackMessage {
  const blocks: KnownBlock[] = [section(`${notice.icon} ${escapeMrkdwn(notice.text)}`)];
  if (notice.artifacts.length) blocks.push(context([`📎 ${escapeMrkdwn(notice.artifacts.map((a) => a.name).join(', '))}`]));
  return message(`${notice.icon} ${notice.text}`, blocks);
}

/**
 * A plain-text answer (help, refusals, lists, audits) as escaped mrkdwn sections, lines kept;
 * long answers are split at line ends over up to ten sections, then cut with a count of the rest.
 */
export function textBlocks(text: string): SlackMessage {
  const lines = escapeMrkdwn(text || ' ').split('\n');
  const chunks = chunkLines(lines, MAX_TEXT_SECTIONS, (n) => `… ${n} more line${n === 1 ? '' : 's'} not shown`);
  return message(text, chunks.map(section));
}
