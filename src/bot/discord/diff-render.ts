/**
 * The round-diff part of a Discord gate card: one embed field with the counts since the
 * rejected round and a ```diff block (Discord colours its `+`/`-` lines). Text from artifacts is
 * kept inert like any text a person wrote.
 */
import type { APIEmbedField } from 'discord.js';
import { excerptText, type RoundDiffView } from '../views/round-diff.js';
import { cutText, discordEscape } from './render.js';

/** An embed field value holds 1024 characters. */
const FIELD_VALUE = 1024;

/** Inside a code block nothing renders, but a backtick could end it: each gets a zero-width space after it. */
const codeText = (text: string, max: number) => cutText(text.replace(/`/g, '`\u200b').replace(/@(?=everyone|here)|(?<=<)@/gi, '@\u200b'), max);

export function diffField(view: RoundDiffView): APIEmbedField {
  const summary = cutText(discordEscape(cutText(view.summary, 400)), 450) + (view.tooLarge ? ` *(${view.tooLargeText})*` : '');
  const excerpt = excerptText(view);
  const room = FIELD_VALUE - summary.length - 16;
  const value = excerpt && room > 40 ? `${summary}\n\`\`\`diff\n${codeText(excerpt, room)}\n\`\`\`` : summary;
  return { name: `🔁 Changes since round ${view.previousRound}`, value: cutText(value, FIELD_VALUE) };
}
