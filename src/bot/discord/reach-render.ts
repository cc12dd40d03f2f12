/**
 * Discord renderings for reaching deciders: the mention reply of a gate (mentions only in
 * `content`, with `allowed_mentions` naming exactly those users and roles, never parsed, so
 * nothing else in the message can ping), a reminder's DM, and the `/signoff pending` answer with
 * jump links and buttons. Pure.
 */
import { ActionRowBuilder, ButtonBuilder, ButtonStyle, type APIActionRowComponent, type APIButtonComponent } from 'discord.js';
import type { Deciders } from '../../orchestrator/deciders.js';
import { pendingLine, type PendingItem } from '../views/pending.js';
import type { PingView } from '../views/ping.js';
import { cutText, discordEscape, gateCustomId, type NoMentions } from './render.js';

const SNOWFLAKE_RE = /^\d{1,20}$/;
/** Discord takes at most 100 ids in each of allowed_mentions.users and .roles. */
const MAX_IDS = 100;
/** Rows of buttons a message may carry. */
const MAX_ROWS = 5;
const CONTENT = 2000;

/** Exactly these may be pinged; `parse` stays empty so no mention in the text is taken from it. */
export interface ExactMentions { parse: []; users: string[]; roles: string[] }

export interface DiscordPing { content: string; allowed_mentions: ExactMentions }

/** Mention markup and the matching allowed_mentions for users and roles (ids of any other shape are left out). */
export function discordMentions(d: Pick<Deciders, 'discord'>): { markup: string[]; allowed: ExactMentions } {
  const users = d.discord.users.filter((u) => SNOWFLAKE_RE.test(u)).slice(0, MAX_IDS);
  const roles = d.discord.roles.filter((r) => SNOWFLAKE_RE.test(r)).slice(0, MAX_IDS);
  return { markup: [...users.map((u) => `<@${u}>`), ...roles.map((r) => `<@&${r}>`)], allowed: { parse: [], users, roles } };
}

/**
 * The thread reply of a ping. With `notify: dm`, roles are still pinged in the thread unless
 * `rolesDmed` (DISCORD_EXPAND_ROLES): who is in a role is not known without the privileged
 * members intent, so by default their members cannot be DMed.
 */
export function pingMessage(ping: PingView, rolesDmed = false): DiscordPing | null {
  const who = ping.mention ?? (ping.dm && !rolesDmed ? { discord: { users: [], roles: ping.dm.discord.roles } } : null);
  const { markup, allowed } = who ? discordMentions(who) : { markup: [], allowed: { parse: [] as [], users: [], roles: [] } };
  if (!markup.length && !ping.always) return null;
  const tail = markup.length ? ` ${markup.join(' ')}` : '';
  return { content: `${ping.icon} ${cutText(discordEscape(ping.text), CONTENT - tail.length - 4)}${tail}`, allowed_mentions: allowed };
}

/** A reminder's DM: the text alone, pinging nobody. */
export function dmReminder(ping: PingView): { content: string; allowed_mentions: NoMentions } {
  return { content: `${ping.icon} ${cutText(discordEscape(ping.text), CONTENT - 4)}`, allowed_mentions: { parse: [] } };
}

/** `/signoff pending`: a line per gate with its jump link, and Approve/Reject for the oldest five. */
export function pendingReply(items: PendingItem[], now: number, links: ReadonlyMap<string, string>): { content: string; components: APIActionRowComponent<APIButtonComponent>[]; allowed_mentions: NoMentions } {
  if (!items.length) return { content: 'Nothing waits for you: no open gate needs your decision.', components: [], allowed_mentions: { parse: [] } };
  const head = `${items.length} gate${items.length === 1 ? '' : 's'} wait${items.length === 1 ? 's' : ''} for you (oldest first):`;
  const lines: string[] = [head];
  let used = head.length;
  for (const [n, item] of items.entries()) {
    const link = links.get(`${item.jobId}:${item.stage}:${item.round}`);
    const line = `${n + 1}. ${discordEscape(pendingLine(item, now))}${link ? ` — ${link}` : ''}`;
    if (used + line.length + 40 > CONTENT) {
      lines.push(`… and ${items.length - n} more.`);
      break;
    }
    lines.push(line);
    used += line.length + 1;
  }
  const components = items.slice(0, MAX_ROWS).map((item) => {
    const card = { jobId: item.jobId, stage: item.stage, round: item.round };
    return new ActionRowBuilder<ButtonBuilder>().addComponents(
      new ButtonBuilder().setCustomId(gateCustomId('approve', card)).setLabel(cutText(`Approve #${item.jobId} ${item.stage}`, 80)).setStyle(ButtonStyle.Success),
      new ButtonBuilder().setCustomId(gateCustomId('reject', card)).setLabel('Reject').setStyle(ButtonStyle.Danger),
    ).toJSON();
  });
  return { content: lines.join('\n'), components, allowed_mentions: { parse: [] } };
}
