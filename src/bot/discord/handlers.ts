/**
 * What signoff does with Discord interactions: the /signoff command (typed options), its
 * autocomplete, the gate buttons and the reject modal. Every interaction is answered at once
 * (Discord drops it after 3 s); refusals are ephemeral and change nothing; an interaction
 * delivered twice is applied once.
 */
import { Events, MessageFlags, type Client, type Interaction } from 'discord.js';
import type { Logger } from 'pino';
import { BUSY_MESSAGE, type Engine } from '../../orchestrator/engine.js';
import type { Identity } from '../../orchestrator/policy.js';
import { beforeAck, claimFirstTime } from '../before-ack.js';
import { executeCommand } from '../commands/execute.js';
import { decidedAlready } from '../decided-already.js';
import { autocompleteChoices, commandFromOptions } from './commands.js';
import { parseGateCustomId, parseRejectModalId, rejectModal, textReply } from './render.js';
import { pendingReply } from './reach-render.js';
import type { Store } from '../../store/store.js';
import type { PendingItem } from '../views/pending.js';

/** The person behind an interaction: user id and the member's role ids. */
function identityOf(i: Interaction): Identity {
  const member = i.member;
  const roles = !member ? [] : Array.isArray(member.roles) ? member.roles : [...member.roles.cache.keys()];
  return { platform: 'discord', user: i.user.id, display: i.user.globalName ?? i.user.username, roles };
}

export function registerHandlers(client: Client, engine: Engine, log: Logger): void {
  const store = engine.store;
  client.on(Events.InteractionCreate, (i) => {
    handle(i).catch((err) => log.error({ err, interaction: i.id }, 'a Discord interaction failed'));
  });

  async function handle(i: Interaction): Promise<void> {
    if (i.isAutocomplete()) {
      const focused = i.options.getFocused(true);
      const jobs = store.queries.list({ limit: 25 }).map((r) => ({ id: r.id, pipeline: r.pipeline, state: r.state, brief: r.brief }));
      // A focused option's value is always a string, others keep their type: accept both.
      const job = Number(i.options.get('job')?.value);
      const agg = Number.isInteger(job) && job > 0 ? store.jobs.load(job) : undefined;
      const stages = agg ? agg.job.def.stages.filter((s) => s.gate).map((s) => s.id) : [];
      await i.respond(autocompleteChoices({ name: focused.name, value: String(focused.value) }, { pipelines: Object.keys(engine.config.pipelines), jobs, stages }));
      return;
    }
    let first: boolean;
    try {
      first = claimFirstTime(store, `discord:${i.id}`);
    } catch (err) {
      // Another process holds the database: say so in time rather than answer late.
      log.warn({ err, interaction: i.id }, 'could not claim a Discord interaction in time');
      if (i.isRepliable()) await i.reply({ ...textReply(BUSY_MESSAGE), flags: MessageFlags.Ephemeral });
      return;
    }
    if (!first) return;
    const who = identityOf(i);
    if (i.isChatInputCommand() && i.commandName === 'signoff') {
      await i.deferReply({ flags: MessageFlags.Ephemeral });
      const parsed = commandFromOptions(i.options.getSubcommand(), {
        string: (name: string) => i.options.getString(name),
        integer: (name: string) => i.options.getInteger(name),
      });
      const reply = parsed.ok ? beforeAck(engine.store, () => executeCommand(engine, who, parsed.command, { surface: 'discord', channel: i.channelId })) : undefined;
      // "What waits for me" links each card (a jump URL) and carries Approve/Reject buttons.
      if (reply?.pending) return void (await i.editReply(pendingReply(reply.pending, engine.now(), jumpLinks(store, i.guildId, reply.pending))));
      await i.editReply(textReply(reply ? reply.text : parsed.ok ? '' : parsed.message));
      return;
    }
    if (i.isButton()) {
      const gate = parseGateCustomId(i.customId);
      if (!gate) {
        await i.reply({ ...textReply('That button is not one signoff made, so nothing changed.'), flags: MessageFlags.Ephemeral });
        return;
      }
      if (gate.action === 'reject') {
        const decided = decidedAlready(engine, gate);
        if (decided) await i.reply({ ...textReply(decided), flags: MessageFlags.Ephemeral });
        else await i.showModal(rejectModal(gate));
        return;
      }
      const r = beforeAck(engine.store, () => engine.act(who, gate.job, { type: gate.action, stage: gate.stage, round: gate.round }));
      // The gate message itself is edited through the outbox; the click only needs an answer.
      if (r.ok) await i.deferUpdate();
      else await i.reply({ ...textReply(r.message), flags: MessageFlags.Ephemeral });
      return;
    }
    if (i.isModalSubmit()) {
      const ref = parseRejectModalId(i.customId);
      if (!ref) {
        await i.reply({ ...textReply('That form is not one signoff made, so nothing changed.'), flags: MessageFlags.Ephemeral });
        return;
      }
      const reason = i.fields.getTextInputValue('reason');
      const r = beforeAck(engine.store, () => engine.act(who, ref.job, { type: 'reject', stage: ref.stage, round: ref.round, reason }));
      await i.reply({ ...textReply(r.message), flags: MessageFlags.Ephemeral });
    }
  }
}

/** Jump URLs of the items' cards in their threads (`job:stage:round` → URL), from the stored message ids. */
function jumpLinks(store: Store, guildId: string | null, items: PendingItem[]): Map<string, string> {
  const links = new Map<string, string>();
  if (!guildId) return links;
  for (const item of items) {
    const ref = store.outbox.getRef('discord', item.jobId, `gate:${item.stage}:${item.round}`);
    if (ref) links.set(`${item.jobId}:${item.stage}:${item.round}`, `https://discord.com/channels/${guildId}/${ref.channel}/${ref.messageId}`);
  }
  return links;
}
