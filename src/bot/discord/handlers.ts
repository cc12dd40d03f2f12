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
import { noteModal, parseNoteButtonId, parseNoteModalId } from './note-modal.js';

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
      const text = parsed.ok ? beforeAck(engine.store, () => executeCommand(engine, who, parsed.command, { surface: 'discord', channel: i.channelId })).text : parsed.message;
      await i.editReply(textReply(text));
      return;
    }
    if (i.isButton()) {
      const noteFor = parseNoteButtonId(i.customId);
      if (noteFor) {
        const decided = decidedAlready(engine, noteFor);
        if (decided) await i.reply({ ...textReply(decided), flags: MessageFlags.Ephemeral });
        else await i.showModal(noteModal(noteFor));
        return;
      }
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
      const noted = parseNoteModalId(i.customId);
      if (noted) {
        // An empty optional input may be left out of the submission: that is no note.
        let note = '';
        try {
          note = i.fields.getTextInputValue('note').trim();
        } catch {
          note = '';
        }
        const r = beforeAck(engine.store, () => engine.act(who, noted.job, { type: 'approve', stage: noted.stage, round: noted.round, ...(note ? { reason: note } : {}) }));
        await i.reply({ ...textReply(r.message), flags: MessageFlags.Ephemeral });
        return;
      }
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
