/**
 * "Approve with note…" on Discord: the button next to Approve (`sn:<job>:<stage>:<round>`), the
 * dialog it opens (`sn:note:<job>:<stage>:<round>`), both read back as strictly as the gate
 * buttons. The note is optional and capped by Discord's own input length.
 */
import { ButtonBuilder, ButtonStyle, LabelBuilder, ModalBuilder, TextInputBuilder, TextInputStyle, type APIButtonComponent, type APIModalInteractionResponseCallbackData } from 'discord.js';
import { MAX_APPROVAL_NOTE } from '../../orchestrator/approval-notes.js';
import { cutText, parseRef, type GateRef } from './render.js';

export function noteButton(ref: GateRef): APIButtonComponent {
  const id = `sn:${ref.job}:${ref.stage}:${ref.round}`;
  if (!parseNoteButtonId(id)) throw new Error(`signoff: note button id ${JSON.stringify(id.slice(0, 120))} is not valid`);
  return new ButtonBuilder().setCustomId(id).setLabel('Approve with note…').setStyle(ButtonStyle.Success).toJSON();
}

export function parseNoteButtonId(id: string): GateRef | undefined {
  return parseRef(id, /(sn)/)?.ref;
}

export function noteModal(ref: GateRef): APIModalInteractionResponseCallbackData {
  const id = `sn:note:${ref.job}:${ref.stage}:${ref.round}`;
  if (!parseNoteModalId(id)) throw new Error(`signoff: note modal id ${JSON.stringify(id.slice(0, 120))} is not valid`);
  const note = new TextInputBuilder().setCustomId('note').setStyle(TextInputStyle.Paragraph).setRequired(false).setMaxLength(MAX_APPROVAL_NOTE).setPlaceholder('Fine, but check the intro timing');
  return new ModalBuilder()
    .setCustomId(id)
    .setTitle(cutText(`Approve ${ref.stage} of job ${ref.job}`, 45))
    .addLabelComponents(new LabelBuilder().setLabel('Note').setDescription('Shown on the card and handed to later stages.').setTextInputComponent(note))
    .toJSON();
}

export function parseNoteModalId(id: string): GateRef | undefined {
  return parseRef(id, /sn:(note)/)?.ref;
}
