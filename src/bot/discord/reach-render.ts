/**
 * Discord renderings for reaching deciders: the mentions on an open gate's card and in the reply
 * of a reminder or escalation (mentions only in `content`, with `allowed_mentions` naming exactly
 * those users and roles, never parsed, so nothing else in the message can ping), a reminder's DM,
 * and the `/signoff pending` answer with jump links and buttons. Pure.
 */
import { ActionRowBuilder, ButtonBuilder, ButtonStyle, type APIActionRowComponent, type APIButtonComponent } from 'discord.js';
import type { Deciders } from '../../orchestrator/deciders.js';
import { pendingLine, type PendingItem } from '../views/pending.js';
import type { CardReach, PingView } from '../views/ping.js';
import { cutText, discordEscape, gateCustomId, type DiscordGateMessage, type NoMentions } from './render.js';

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
 * Whom a message in the thread mentions. With `notify: dm`, roles are still mentioned unless
 * `rolesDmed` (DISCORD_EXPAND_ROLES): who is in a role is not known without the privileged
 * members intent, so by default their members cannot be DMed.
 */
function inThread(mention: Deciders | null, dm: Deciders | null, rolesDmed: boolean): Pick<Deciders, 'discord'> | null {
  return mention ?? (dm && !rolesDmed ? { discord: { users: [], roles: dm.discord.roles } } : null);
}

/**
 * The mentions of `who` that fit in `max` characters (whole ones, users first), and
 * allowed_mentions naming exactly those: an id cut from the text is not allowed either.
 */
function fitMentions(who: Pick<Deciders, 'discord'> | null, max: number): { markup: string; allowed: ExactMentions } {
  const { allowed } = who ? discordMentions(who) : { allowed: { parse: [] as [], users: [], roles: [] } };
  const fit: ExactMentions = { parse: [], users: [], roles: [] };
  let markup = '';
  const tokens = [...allowed.users.map((id) => ({ id, kind: 'users' as const, text: `<@${id}>` })), ...allowed.roles.map((id) => ({ id, kind: 'roles' as const, text: `<@&${id}>` }))];
  for (const t of tokens) {
    if (markup.length + t.text.length + 1 > max) break;
    markup = markup ? `${markup} ${t.text}` : t.text;
    fit[t.kind].push(t.id);
  }
  return { markup, allowed: fit };
}

/**
 * The thread's gate card with whom it waits for, in `content` (where Discord pings from) with
 * exactly those users and roles allowed, so posting the card is what notifies them. The card's
 * other text stays escaped and embeds never ping. `reach` null (decided, or nobody to reach):
 * the card as it is, whose content then says the outcome, so the edit drops the mentions.
 */
export function cardWithMentions(card: DiscordGateMessage, reach: CardReach | null, rolesDmed = false): Omit<DiscordGateMessage, 'allowed_mentions'> & { allowed_mentions: NoMentions | ExactMentions } {
  const head = cutText(card.content, CONTENT / 2);
  const { markup, allowed } = fitMentions(reach ? inThread(reach.mention, reach.dm, rolesDmed) : null, CONTENT - head.length - 20);
  if (!markup) return card;
  return { ...card, content: `${head} — waiting for ${markup}`, allowed_mentions: allowed };
}

/**
 * The thread reply of a reminder or an escalation, mentioning whom it reaches. Null when there is
 * nothing to post: a gate opening (its card carries the mentions), or nobody to mention and the
 * ping is not news itself.
 */
export function pingMessage(ping: PingView, rolesDmed = false): DiscordPing | null {
  if (!ping.thread) return null;
  const { markup, allowed } = fitMentions(inThread(ping.mention, ping.dm, rolesDmed), CONTENT / 2);
  if (!markup && !ping.always) return null;
  const tail = markup ? ` ${markup}` : '';
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
