/**
 * Reaching a gate's deciders on Slack: the mention reply of a reminder or escalation in the job's
 * thread (an opening gate's card carries its own mentions, see notifier.ts), a copy of the card
 * by direct message (`notify: dm | both`), the copies kept in step with the thread's card, and
 * each decider's App Home tab listing what waits for them.
 *
 * DMs are posted like every other message (see SlackNotifier.postOnce): the intent is stored in
 * chat_refs before the post, the post carries signoff's metadata and goes through the pacer, so a
 * lost answer or a crash finds the message instead of sending it twice. A DM copy's key names the
 * gate round and the person (`dm:gate:<stage>:<round>:<user>`), which is how every copy is found
 * again to be edited when the gate is decided anywhere.
 */
import type { App } from '@slack/bolt';
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.js';
import { actorFor } from '../../orchestrator/policy.js';
import type { Gate, JobAggregate } from '../../orchestrator/types.js';
import type { OutboxRow, Store } from '../../store/store.js';
import { pendingFor, type PendingItem } from '../views/pending.js';
import { pingFor, type PingView } from '../views/ping.js';
import type { SlackMessage } from './blocks.js';
import type { SlackIdentities } from './identities.js';
import { dmTextBlocks, homeView, pingBlocks } from './reach-blocks.js';

type WebClient = App['client'];
const TARGET = 'slack';
const PENDING = 'pending';
/** Most people one ping DMs (and Home tabs one gate change refreshes); past it, a log line says who was left out. */
export const MAX_DMS = 50;

export interface SlackReachOptions {
  client: WebClient;
  store: Store;
  config: Config;
  log: Logger;
  identities: SlackIdentities;
  /** Posts once as far as people can see (SlackNotifier.postOnce). */
  postOnce(job: number, key: string, channel: string, threadTs: string | null, message: SlackMessage): Promise<{ ts: string; existed: boolean }>;
  /** The gate card as the thread shows it. */
  gateMessage(agg: JobAggregate, gate: Gate): Promise<SlackMessage>;
  now(): number;
}

export class SlackReach {
  private readonly permalinks = new Map<string, string>();
  /**
   * People who opened their Home tab since this process started, most recent last. After a
   * restart a tab shows its last list until its owner opens it again (which publishes it anew).
   */
  private readonly homeViewers = new Set<string>();

  constructor(private readonly o: SlackReachOptions) {}

  /** The mention reply of a reminder or escalation (keyed like a notice: one per event), then the event's DMs. */
  async ping(agg: JobAggregate, root: { channel: string; messageId: string }, row: OutboxRow): Promise<void> {
    const ping = pingFor(row.event, agg, this.o.config.operators);
    if (!ping) return;
    const key = `notice:${row.event.seq}`;
    const ref = (await this.o.store.outbox.getRef(TARGET, agg.job.id, key));
    const message = pingBlocks(ping);
    if (message && (!ref || ref.messageId === PENDING)) await this.o.postOnce(agg.job.id, key, root.channel, root.messageId, message);
    if (ping.dm) await this.directMessages(agg, ping);
  }

  /** Edits every DM copy of a gate round's card to `message`, then refreshes the Home tabs people look at. */
  async copies(agg: JobAggregate, gate: Gate, message: SlackMessage): Promise<void> {
    for (const ref of await this.o.store.outbox.refsWithPrefix(TARGET, agg.job.id, `dm:gate:${gate.stage}:${gate.round}:`)) {
      if (ref.messageId === PENDING) continue;
      await this.platformErrorsLogged({ job: agg.job.id, key: ref.key }, () => this.o.client.chat.update({ channel: ref.channel, ts: ref.messageId, ...message }));
    }
    // A gate changed: the lists of those who opened their Home tab may have changed. (Only
    // theirs: publishing for every decider of every gate would cost calls nobody looks at.)
    for (const user of [...this.homeViewers].slice(-MAX_DMS)) await this.publishHome(user);
  }

  /** Someone opened their Home tab: publish it, and keep it up to date from now on. */
  async homeOpened(user: string): Promise<void> {
    this.homeViewers.delete(user);
    this.homeViewers.add(user);
    await this.publishHome(user);
  }

  /** Publishes a person's Home tab: the gates waiting for them. Failures are logged, never thrown. */
  async publishHome(user: string): Promise<void> {
    try {
      const actor = actorFor(this.o.config.operators, await this.o.identities.resolve(user));
      const items = await pendingFor(this.o.store, actor);
      await this.o.client.views.publish({ user_id: user, view: homeView(items, this.o.now(), await this.links(items)) });
    } catch (err) {
      this.o.log.warn({ err, user }, 'could not publish a Slack Home tab');
    }
  }

  /** Permalinks of the items' cards in their threads (`job:stage:round` → URL), asked once per message. */
  async links(items: PendingItem[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const item of items) {
      const ref = (await this.o.store.outbox.getRef(TARGET, item.jobId, `gate:${item.stage}:${item.round}`));
      if (!ref || ref.messageId === PENDING) continue;
      const at = `${ref.channel}:${ref.messageId}`;
      let link = this.permalinks.get(at);
      if (!link) {
        try {
          link = (await this.o.client.chat.getPermalink({ channel: ref.channel, message_ts: ref.messageId })).permalink;
          if (link) this.permalinks.set(at, link);
        } catch (err) {
          this.o.log.warn({ err, job: item.jobId }, 'could not get the permalink of a gate card');
        }
      }
      if (link) out.set(`${item.jobId}:${item.stage}:${item.round}`, link);
    }
    return out;
  }

  private async directMessages(agg: JobAggregate, ping: PingView): Promise<void> {
    const gate = agg.gates.find((g) => g.stage === ping.stage && g.round === ping.round);
    if (!gate || !ping.dm) return;
    for (const user of await this.people(ping.dm.slack, ping.dmExclude, agg.job.id)) {
      const key = ping.dmCard ? `dm:gate:${ping.stage}:${ping.round}:${user}` : `dm:${ping.seq}:${user}`;
      const ref = (await this.o.store.outbox.getRef(TARGET, agg.job.id, key));
      if (ref && ref.messageId !== PENDING) continue;
      await this.platformErrorsLogged({ job: agg.job.id, key }, async () => {
        const channel = ref?.channel ?? (await this.o.client.conversations.open({ users: user })).channel?.id;
        if (!channel) throw new Error(`Slack opened no DM channel with ${user}`);
        await this.o.postOnce(agg.job.id, key, channel, null, ping.dmCard ? await this.o.gateMessage(agg, gate) : dmTextBlocks(ping));
      });
    }
  }

  /** Listed users and the members of listed user groups, without `exclude` (actor ids), at most MAX_DMS. */
  private async people(slack: { users: string[]; usergroups: string[] }, exclude: string[], job: number): Promise<string[]> {
    const members = await Promise.all(slack.usergroups.map((g) => this.o.identities.membersOf(g)));
    const all = [...new Set([...slack.users, ...members.flat()])].filter((u) => !exclude.includes(`slack:${u}`)).sort();
    if (all.length > MAX_DMS)
      this.o.log.warn({ job, people: all.length, cap: MAX_DMS, leftOut: all.slice(MAX_DMS) }, `a gate reaches ${all.length} Slack users; only the first ${MAX_DMS} get a direct message or a Home tab refresh`);
    return all.slice(0, MAX_DMS);
  }

  /**
   * Runs a call for one person; Slack refusing it (a deactivated user, a DM the bot may not open)
   * is logged and skipped, so one person never holds up the job. Network errors are thrown: the
   * outbox tries again.
   */
  private async platformErrorsLogged(where: Record<string, unknown>, call: () => Promise<unknown>): Promise<void> {
    try {
      await call();
    } catch (err) {
      const code = (err as { data?: { error?: string } })?.data?.error;
      if (!code) throw err;
      this.o.log.warn({ err, ...where, code }, 'Slack refused a direct message to a decider; skipping that person');
    }
  }
}
