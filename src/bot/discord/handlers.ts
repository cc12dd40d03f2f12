/**
 * Discord interactions from the gateway: the /signoff command (typed options), its
 * autocomplete, the gate buttons and the reject modal. discord.js's interaction is read into the
 * shared {@link InteractionInput} and carried out by the flow the HTTP endpoint uses too
 * (interaction-flow.ts); the answer is sent with discord.js. Every interaction is answered at
 * once (Discord drops it after 3 s); refusals are ephemeral and change nothing; an interaction
 * delivered twice is applied once.
 */
import { Events, MessageFlags, type Client, type Interaction } from 'discord.js';
import type { Logger } from 'pino';
import type { Engine } from '../../orchestrator/engine.js';
import type { Identity } from '../../orchestrator/policy.js';
import { carryOut, claimInteraction, type InteractionAnswer, type InteractionInput } from './interaction-flow.js';

/** The person behind an interaction: user id and the member's role ids. */
function identityOf(i: Interaction): Identity {
  const member = i.member;
  const roles = !member ? [] : Array.isArray(member.roles) ? member.roles : [...member.roles.cache.keys()];
  return { platform: 'discord', user: i.user.id, display: i.user.globalName ?? i.user.username, roles };
}

/** discord.js's interaction as the shared flow reads it. */
function inputOf(i: Interaction): InteractionInput {
  if (i.isAutocomplete()) {
    const focused = i.options.getFocused(true);
    return { kind: 'autocomplete', focused: { name: focused.name, value: String(focused.value) }, job: i.options.get('job')?.value };
  }
  const who = identityOf(i);
  if (i.isChatInputCommand()) {
    const options = { string: (name: string) => i.options.getString(name), integer: (name: string) => i.options.getInteger(name) };
    return { kind: 'command', id: i.id, who, channel: i.channelId, guild: i.guildId, name: i.commandName, subcommand: i.options.getSubcommand(false), options };
  }
  if (i.isButton()) return { kind: 'button', id: i.id, who, customId: i.customId };
  if (i.isModalSubmit()) {
    const text = (name: string) => (i.fields.fields.has(name) ? i.fields.getTextInputValue(name) : null);
    return { kind: 'modal', id: i.id, who, customId: i.customId, reason: text('reason'), note: text('note') };
  }
  return { kind: 'other', id: i.id };
}

/** Sends an answer the way discord.js answers this kind of interaction. */
async function send(i: Interaction, answer: InteractionAnswer): Promise<void> {
  switch (answer.kind) {
    case 'choices':
      if (i.isAutocomplete()) await i.respond(answer.choices);
      return;
    case 'private':
      if (!i.isRepliable()) return;
      if (i.deferred) await i.editReply(answer.message);
      else await i.reply({ ...answer.message, flags: MessageFlags.Ephemeral });
      return;
    case 'update':
      if (i.isMessageComponent()) await i.deferUpdate();
      return;
    case 'modal':
      if (i.isButton()) await i.showModal(answer.modal);
      return;
    default:
      // A replay over the gateway was answered the first time.
      return;
  }
}

export function registerHandlers(client: Client, engine: Engine, log: Logger): void {
  client.on(Events.InteractionCreate, (i) => {
    handle(i).catch((err) => log.error({ err, interaction: i.id }, 'a Discord interaction failed'));
  });

  async function handle(i: Interaction): Promise<void> {
    const input = inputOf(i);
    const claim = await claimInteraction(engine, input, (err) => log.warn({ err, interaction: i.id }, 'could not claim a Discord interaction in time'));
    if (claim !== 'first') return send(i, claim);
    // A command's answer is private and deferred first, as Discord shows "thinking…" meanwhile.
    if (input.kind === 'command' && i.isChatInputCommand()) await i.deferReply({ flags: MessageFlags.Ephemeral });
    await send(i, await carryOut(engine, input));
  }
}
