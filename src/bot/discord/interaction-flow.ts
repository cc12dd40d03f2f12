/**
 * What signoff does with one Discord interaction, whichever way it arrived (the gateway, or the
 * HTTP interactions endpoint): the /signoff command, its autocomplete, the gate buttons and the
 * Reject dialog. The interaction comes in as a plain {@link InteractionInput}, built by pure
 * functions from discord.js's objects or from the raw payload, and the answer goes out as a
 * plain {@link InteractionAnswer}, which the gateway path sends with discord.js and the HTTP path
 * returns as the interaction response JSON.
 */
import { InteractionResponseType, MessageFlags, type APIInteractionResponse, type APIModalInteractionResponseCallbackData } from 'discord.js';
import { BUSY_MESSAGE, type Engine } from '../../orchestrator/engine.js';
import type { Identity } from '../../orchestrator/policy.js';
import { BEFORE_ACK, claimFirstTime } from '../before-ack.js';
import { executeCommand } from '../commands/execute.js';
import { decidedAlready } from '../decided-already.js';
import { autocompleteChoices, commandFromOptions, type Choice, type OptionReader } from './commands.js';
import { noteModal, parseNoteButtonId, parseNoteModalId } from './note-modal.js';
import { pendingReply } from './reach-render.js';
import type { Store } from '../../store/store.js';
import type { PendingItem } from '../views/pending.js';
import { parseGateCustomId, parseRejectModalId, rejectModal, textReply, type DiscordText } from './render.js';

/** One interaction, as signoff needs it. */
export type InteractionInput =
  | { kind: 'ping' }
  | { kind: 'autocomplete'; focused: { name: string; value: string }; job: unknown }
  | { kind: 'command'; id: string; who: Identity; channel: string | null; guild: string | null; name: string; subcommand: string | null; options: OptionReader }
  | { kind: 'button'; id: string; who: Identity; customId: string }
  /** A dialog's submission: the Reject dialog's `reason`, the Approve-with-note dialog's `note`. */
  | { kind: 'modal'; id: string; who: Identity; customId: string; reason: string | null; note: string | null }
  | { kind: 'other'; id: string };

/** How to answer it. */
export type InteractionAnswer =
  | { kind: 'pong' }
  | { kind: 'choices'; choices: Choice[] }
  /** A private answer (a command's result, a refusal; `/signoff pending` carries buttons too). */
  | { kind: 'private'; message: DiscordText | DiscordPending }
  /** Nothing to say: the gate message is edited through the outbox. */
  | { kind: 'update' }
  | { kind: 'modal'; modal: APIModalInteractionResponseCallbackData }
  /** A replay of an interaction already handled: it changes nothing, and says so. */
  | { kind: 'replayed' };

type DiscordPending = ReturnType<typeof pendingReply>;

/** Jump URLs of the pending gates' cards in this server. */
async function jumpLinks(store: Store, guildId: string | null, items: PendingItem[]): Promise<Map<string, string>> {
  const links = new Map<string, string>();
  if (!guildId) return links;
  for (const item of items) {
    const ref = await store.outbox.getRef('discord', item.jobId, `gate:${item.stage}:${item.round}`);
    if (ref) links.set(`${item.jobId}:${item.stage}:${item.round}`, `https://discord.com/channels/${guildId}/${ref.channel}/${ref.messageId}`);
  }
  return links;
}

const privately = (text: string): InteractionAnswer => ({ kind: 'private', message: textReply(text) });

/**
 * Claims the interaction (an interaction delivered twice, or replayed, is applied once), then
 * carries it out (see {@link carryOut}).
 */
export async function answerInteraction(engine: Engine, input: InteractionInput, onBusy: (err: unknown) => void = () => undefined): Promise<InteractionAnswer> {
  const claim = await claimInteraction(engine, input, onBusy);
  return claim === 'first' ? carryOut(engine, input) : claim;
}

/**
 * 'first' the first time an interaction is seen; a replay's or a busy database's answer
 * otherwise. The claim is written before the answer and waits a bounded time for the database,
 * so the answer is always in time. Pings and autocomplete change nothing and need no claim.
 */
export async function claimInteraction(engine: Engine, input: InteractionInput, onBusy: (err: unknown) => void = () => undefined): Promise<'first' | InteractionAnswer> {
  if (input.kind === 'ping' || input.kind === 'autocomplete') return 'first';
  try {
    return (await claimFirstTime(engine.store, `discord:${input.id}`)) ? 'first' : { kind: 'replayed' };
  } catch (err) {
    // Another process holds the database: say so in time rather than answer late.
    onBusy(err);
    return privately(BUSY_MESSAGE);
  }
}

/** Carries out a claimed interaction; refusals are private answers that change nothing. */
export async function carryOut(engine: Engine, input: InteractionInput): Promise<InteractionAnswer> {
  const store = engine.store;
  switch (input.kind) {
    case 'ping':
      return { kind: 'pong' };
    case 'autocomplete': {
      const jobs = (await store.queries.list({ limit: 25 })).map((r) => ({ id: r.id, pipeline: r.pipeline, state: r.state, brief: r.brief }));
      // A focused option's value is always a string, others keep their type: accept both.
      const job = Number(input.job);
      const agg = Number.isInteger(job) && job > 0 ? await store.jobs.load(job) : undefined;
      const stages = agg ? agg.job.def.stages.filter((s) => s.gate).map((s) => s.id) : [];
      return { kind: 'choices', choices: autocompleteChoices(input.focused, { pipelines: Object.keys(engine.config.pipelines), jobs, stages }) };
    }
    case 'command': {
      if (input.name !== 'signoff' || !input.subcommand) return privately('That command is not one signoff knows, so nothing changed.');
      const parsed = commandFromOptions(input.subcommand, input.options);
      if (!parsed.ok) return privately(parsed.message);
      const reply = await executeCommand(engine, input.who, parsed.command, { surface: 'discord', ...(input.channel ? { channel: input.channel } : {}) }, BEFORE_ACK);
      // "What waits for me" links each card (a jump URL) and carries Approve/Reject buttons.
      if (reply.pending) return { kind: 'private', message: pendingReply(reply.pending, engine.now(), await jumpLinks(store, input.guild, reply.pending)) };
      return privately(reply.text);
    }
    case 'button': {
      const noteFor = parseNoteButtonId(input.customId);
      if (noteFor) {
        const decided = await decidedAlready(engine, noteFor);
        return decided ? privately(decided) : { kind: 'modal', modal: noteModal(noteFor) };
      }
      const gate = parseGateCustomId(input.customId);
      if (!gate) return privately('That button is not one signoff made, so nothing changed.');
      if (gate.action === 'reject') {
        const decided = await decidedAlready(engine, gate);
        return decided ? privately(decided) : { kind: 'modal', modal: rejectModal(gate) };
      }
      const r = await engine.act(input.who, gate.job, { type: gate.action, stage: gate.stage, round: gate.round }, BEFORE_ACK);
      // The gate message itself is edited through the outbox; the click only needs an answer.
      return r.ok ? { kind: 'update' } : privately(r.message);
    }
    case 'modal': {
      const noted = parseNoteModalId(input.customId);
      if (noted) {
        // An empty optional input may be left out of the submission: that is no note.
        const note = input.note?.trim() ?? '';
        const r = await engine.act(input.who, noted.job, { type: 'approve', stage: noted.stage, round: noted.round, ...(note ? { reason: note } : {}) }, BEFORE_ACK);
        return privately(r.message);
      }
      const ref = parseRejectModalId(input.customId);
      if (!ref || input.reason === null) return privately('That form is not one signoff made, so nothing changed.');
      const reason = input.reason;
      const r = await engine.act(input.who, ref.job, { type: 'reject', stage: ref.stage, round: ref.round, reason }, BEFORE_ACK);
      return privately(r.message);
    }
    default:
      return privately('signoff does not handle that kind of interaction, so nothing changed.');
  }
}

/** The interaction response JSON of an answer, for the HTTP endpoint's response body. */
export function interactionResponse(answer: InteractionAnswer): APIInteractionResponse {
  switch (answer.kind) {
    case 'pong':
      return { type: InteractionResponseType.Pong };
    case 'choices':
      return { type: InteractionResponseType.ApplicationCommandAutocompleteResult, data: { choices: answer.choices } };
    case 'private':
      return { type: InteractionResponseType.ChannelMessageWithSource, data: { ...answer.message, flags: MessageFlags.Ephemeral } };
    case 'update':
      return { type: InteractionResponseType.DeferredMessageUpdate };
    case 'modal':
      return { type: InteractionResponseType.Modal, data: answer.modal };
    case 'replayed':
      return { type: InteractionResponseType.ChannelMessageWithSource, data: { ...textReply('That was already done; nothing changed.'), flags: MessageFlags.Ephemeral } };
  }
}
