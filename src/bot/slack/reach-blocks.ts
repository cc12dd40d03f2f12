/**
 * Slack renderings for reaching deciders: the mentions on an open gate's card and in the reply
 * of a reminder or escalation (in mrkdwn and in the top-level `text`, which is what mobile
 * notifications show), the `/signoff pending` list and the App Home tab. Pure. Only ids from the configuration become mentions, and only after
 * checking their shape; every other text is escaped.
 */
import type { types } from '@slack/bolt';
import type { Deciders } from '../../orchestrator/deciders.js';
import type { PendingItem } from '../views/pending.js';
import { pendingLine } from '../views/pending.js';
import type { CardReach, PingView } from '../views/ping.js';
import { GATE_ACTION_IDS, gateValue, SLACK_LIMITS, type SlackMessage } from './blocks.js';
import { cut, escapeMrkdwn } from './mrkdwn.js';

type KnownBlock = types.KnownBlock;

const USER_RE = /^[UW][A-Z0-9]{2,30}$/;
const USERGROUP_RE = /^S[A-Z0-9]{2,30}$/;
const LINK_RE = /^https:\/\/[^\s<>|]+$/;
/** Items with buttons in one message: two blocks each, within Slack's 50 (100 on Home). */
const MAX_ITEMS_WITH_BUTTONS = 20;

/** `<@U…>` for users, `<!subteam^S…>` for user groups; ids of any other shape are left out. */
export function slackMentions(d: Deciders): string[] {
  return [
    ...d.slack.users.filter((u) => USER_RE.test(u)).map((u) => `<@${u}>`),
    ...d.slack.usergroups.filter((g) => USERGROUP_RE.test(g)).map((g) => `<!subteam^${g}>`),
  ];
}

/** Mentions joined with spaces, as many whole ones as fit in `max` characters, and how many were left out. */
function fitMentions(mentions: string[], max: number): { markup: string; left: number } {
  let markup = '';
  for (const [i, m] of mentions.entries()) {
    if (markup.length + m.length + 1 > max) return { markup, left: mentions.length - i };
    markup = markup ? `${markup} ${m}` : m;
  }
  return { markup, left: 0 };
}

/**
 * The thread's gate card with whom it waits for: a line under its header and the same mentions
 * in `text`, so posting the card is what notifies them (`notify: mention | both`; a DM-only gate
 * mentions nobody in the thread). `reach` null (decided, or nobody to reach): the card as it is,
 * so the edit to the outcome drops the line. DM copies never get it (they are sent as they are).
 */
export function cardWithMentions(card: SlackMessage, reach: CardReach | null): SlackMessage {
  const mentions = reach?.mention ? slackMentions(reach.mention) : [];
  if (!mentions.length) return card;
  const { markup, left } = fitMentions(mentions, SLACK_LIMITS.sectionText - 100);
  const line = `🔔 Waiting for ${markup}${left ? ` and ${left} more` : ''}`;
  const blocks: KnownBlock[] = [...card.blocks.slice(0, 1), { type: 'section', text: { type: 'mrkdwn', text: line, verbatim: true } }, ...card.blocks.slice(1)];
  // Within Slack's block limit: the line takes the place of the last block that is not the buttons.
  if (blocks.length > SLACK_LIMITS.blocks) blocks.splice(blocks.findLastIndex((b) => b.type !== 'actions'), 1);
  return { text: `${card.text} — waiting for ${markup}${left ? ` and ${left} more` : ''}`, blocks };
}

/**
 * The thread reply of a reminder or an escalation: its text with the mentions after it, in the
 * section and in `text` alike. Null when there is nothing to post (a gate opening, whose card
 * carries the mentions; or nobody to mention, and the ping is not news itself).
 */
export function pingBlocks(ping: PingView): SlackMessage | null {
  if (!ping.thread) return null;
  const mentions = ping.mention ? slackMentions(ping.mention) : [];
  if (!mentions.length && !ping.always) return null;
  const line = `${ping.icon} ${escapeMrkdwn(ping.text)}${mentions.length ? ` ${mentions.join(' ')}` : ''}`;
  return { text: line, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: line, verbatim: true } }] };
}

/** The short DM of a reminder (the card itself was sent when the gate opened). */
export function dmTextBlocks(ping: PingView): SlackMessage {
  const line = `${ping.icon} ${escapeMrkdwn(ping.text)}`;
  return { text: line, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: line, verbatim: true } }] };
}

function itemBlocks(item: PendingItem, now: number, link: string | undefined, buttons: boolean): KnownBlock[] {
  const line = escapeMrkdwn(pendingLine(item, now));
  const shown = link && LINK_RE.test(link) ? `<${link}|${line}>` : line;
  const blocks: KnownBlock[] = [{ type: 'section', text: { type: 'mrkdwn', text: shown, verbatim: true } }];
  if (buttons) {
    const value = gateValue({ jobId: item.jobId, stage: item.stage, round: item.round });
    blocks.push({
      type: 'actions',
      block_id: `pending:${item.jobId}:${item.stage}:${item.round}`.slice(0, 255),
      elements: [
        { type: 'button', action_id: GATE_ACTION_IDS.approve, text: { type: 'plain_text', text: 'Approve' }, style: 'primary', value },
        { type: 'button', action_id: GATE_ACTION_IDS.reject, text: { type: 'plain_text', text: 'Reject' }, style: 'danger', value },
      ],
    });
  }
  return blocks;
}

function listBlocks(items: PendingItem[], now: number, links: ReadonlyMap<string, string>): KnownBlock[] {
  const key = (i: PendingItem) => `${i.jobId}:${i.stage}:${i.round}`;
  const blocks = items.slice(0, MAX_ITEMS_WITH_BUTTONS).flatMap((i) => itemBlocks(i, now, links.get(key(i)), true));
  const rest = items.slice(MAX_ITEMS_WITH_BUTTONS);
  if (rest.length) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `… and ${rest.length} more; decide the oldest first.` }] });
  return blocks;
}

/** Links are keyed `job:stage:round`. */
export function pendingBlocks(items: PendingItem[], now: number, links: ReadonlyMap<string, string>): SlackMessage {
  const head = items.length ? `${items.length} gate${items.length === 1 ? '' : 's'} wait${items.length === 1 ? 's' : ''} for you (oldest first)` : 'Nothing waits for you: no open gate needs your decision.';
  return { text: head, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `*${head}*`, verbatim: true } }, ...listBlocks(items, now, links)] };
}

/** The App Home tab: the same list, refreshed when it changes. */
export function homeView(items: PendingItem[], now: number, links: ReadonlyMap<string, string>): { type: 'home'; blocks: KnownBlock[] } {
  const head = items.length ? `Waiting for you: ${items.length}` : 'Nothing waits for you';
  return {
    type: 'home',
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: cut(head, 150).text } },
      ...(items.length ? listBlocks(items, now, links) : [{ type: 'section', text: { type: 'mrkdwn', text: 'No open gate needs your decision. New ones appear here and in their job threads.' } } as KnownBlock]),
    ],
  };
}
