/**
 * Reaching a gate's deciders on Discord: the mention reply of a reminder or escalation in the
 * job's thread (an opening gate's card carries its own mentions, see notifier.ts), a copy of the
 * card by direct message to each listed user (`notify: dm | both`), and those copies edited with
 * the thread's card. Roles are pinged in the thread but not expanded for DMs: knowing a role's
 * members needs the privileged Server Members intent, which signoff asks for only when
 * DISCORD_EXPAND_ROLES=true (then `roleMembers` is given and roles are DMed member by member).
 *
 * Posts are exactly-once like the notifier's: each carries a fixed nonce with enforce_nonce (a
 * retried post returns the message already made), and its id is stored under a key naming the
 * gate round and the person (`dm:gate:<stage>:<round>:<user>`), so every copy is found again.
 */
import { createHash } from 'node:crypto';
import { DiscordAPIError, Routes, type REST } from 'discord.js';
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.js';
import type { Gate, JobAggregate } from '../../orchestrator/types.js';
import type { OutboxRow, Store } from '../../store/store.js';
import { pingFor, type PingView } from '../views/ping.js';
import { dmReminder, pingMessage } from './reach-render.js';

const TARGET = 'discord';
/** Most users one ping DMs; past it, a log line names who was left out. */
export const MAX_DMS = 50;
/** Discord's answers meaning "this person cannot be DMed" (DMs closed, unknown user): skip them. */
const CANNOT_DM = new Set([50007, 10013]);

type Message = { id: string };

export interface DiscordReachOptions {
  rest: REST;
  store: Store;
  config: Config;
  log: Logger;
  /** The gate card for a DM (no attachments). */
  gateMessage(agg: JobAggregate, gate: Gate): Promise<object>;
  /** The members holding any of `roles` in the guild of `channelId` (only with DISCORD_EXPAND_ROLES). */
  roleMembers?(channelId: string, roles: string[]): Promise<string[]>;
}

export class DiscordReach {
  constructor(private readonly o: DiscordReachOptions) {}

  /** The mention reply of a reminder or escalation (keyed like a notice: one per event), then the event's DMs. */
  async ping(agg: JobAggregate, threadId: string, row: OutboxRow): Promise<void> {
    const ping = pingFor(row.event, agg, this.o.config.operators);
    if (!ping) return;
    const key = `notice:${row.event.seq}`;
    const message = pingMessage(ping, this.o.roleMembers !== undefined);
    if (message && !(await this.o.store.outbox.getRef(TARGET, agg.job.id, key))) {
      const posted = (await this.o.rest.post(Routes.channelMessages(threadId), { body: { ...message, ...nonce(agg.job.id, key) } })) as Message;
      await this.o.store.outbox.putRef(TARGET, agg.job.id, key, { channel: threadId, messageId: posted.id, threadId });
    }
    if (ping.dm) await this.directMessages(agg, ping, threadId);
  }

  /** Edits every DM copy of a gate round's card. */
  async copies(agg: JobAggregate, gate: Gate): Promise<void> {
    const refs = await this.o.store.outbox.refsWithPrefix(TARGET, agg.job.id, `dm:gate:${gate.stage}:${gate.round}:`);
    if (!refs.length) return;
    const body = await this.o.gateMessage(agg, gate);
    for (const ref of refs) await this.skipUnreachable({ job: agg.job.id, key: ref.key }, () => this.o.rest.patch(Routes.channelMessage(ref.channel, ref.messageId), { body }));
  }

  private async directMessages(agg: JobAggregate, ping: PingView, threadId: string): Promise<void> {
    const gate = agg.gates.find((g) => g.stage === ping.stage && g.round === ping.round);
    if (!gate || !ping.dm) return;
    const fromRoles = await this.membersOf(ping.dm.discord.roles, threadId, agg.job.id);
    const users = [...new Set([...ping.dm.discord.users, ...fromRoles])].filter((u) => !ping.dmExclude.includes(`discord:${u}`));
    if (users.length > MAX_DMS)
      this.o.log.warn({ job: agg.job.id, people: users.length, cap: MAX_DMS, leftOut: users.slice(MAX_DMS) }, `a gate reaches ${users.length} Discord users; only the first ${MAX_DMS} get a direct message`);
    for (const user of users.slice(0, MAX_DMS)) {
      const key = ping.dmCard ? `dm:gate:${ping.stage}:${ping.round}:${user}` : `dm:${ping.seq}:${user}`;
      if ((await this.o.store.outbox.getRef(TARGET, agg.job.id, key))) continue;
      await this.skipUnreachable({ job: agg.job.id, key }, async () => {
        const channel = (await this.o.rest.post(Routes.userChannels(), { body: { recipient_id: user } })) as Message;
        const body = ping.dmCard ? await this.o.gateMessage(agg, gate) : dmReminder(ping);
        const posted = (await this.o.rest.post(Routes.channelMessages(channel.id), { body: { ...body, ...nonce(agg.job.id, key) } })) as Message;
        await this.o.store.outbox.putRef(TARGET, agg.job.id, key, { channel: channel.id, messageId: posted.id, threadId: null });
      });
    }
  }

  /** Members of `roles`, when role expansion is on; a failed lookup is logged and DMs go to listed users only. */
  private async membersOf(roles: string[], threadId: string, job: number): Promise<string[]> {
    if (!this.o.roleMembers || roles.length === 0) return [];
    try {
      return await this.o.roleMembers(threadId, roles);
    } catch (err) {
      this.o.log.warn({ err, job, roles }, 'could not list the members of Discord roles; DMing listed users only (is the Server Members intent enabled?)');
      return [];
    }
  }

  /** A person who cannot be DMed is logged and skipped, so they never hold up the job; other errors are retried by the outbox. */
  private async skipUnreachable(where: Record<string, unknown>, call: () => Promise<unknown>): Promise<void> {
    try {
      await call();
    } catch (err) {
      if (!(err instanceof DiscordAPIError && typeof err.code === 'number' && CANNOT_DM.has(err.code))) throw err;
      this.o.log.warn({ err, ...where, code: err.code }, 'Discord refused a direct message to a decider; skipping that person');
    }
  }
}

/** The notifier's nonce scheme (see notifier.ts), for the keys made here. */
function nonce(job: number, key: string): { nonce: string; enforce_nonce: true } {
  return { nonce: createHash('sha256').update(`signoff:${job}:${key}`).digest('base64url').slice(0, 25), enforce_nonce: true };
}
