/**
 * The round-diff part of a Slack gate card: the counts since the rejected round and a fenced
 * excerpt of `+`/`-` lines. Text from artifacts is escaped like any text a person wrote.
 */
import type { types } from '@slack/bolt';
import { excerptText, type RoundDiffView } from '../views/round-diff.js';
import { escapeCut, escapeMrkdwn } from './mrkdwn.js';

type KnownBlock = types.KnownBlock;

/** Characters of the excerpt: a section holds 3000, the rest of the card needs room too. */
const EXCERPT_CHARS = 2000;

const section = (text: string): KnownBlock => ({ type: 'section', text: { type: 'mrkdwn', text, verbatim: true } });

export function diffBlocks(view: RoundDiffView): KnownBlock[] {
  const head = `*Changes since round ${view.previousRound}:* ${escapeCut(view.summary, 1000).text}${view.tooLarge ? ` _(${escapeMrkdwn(view.tooLargeText)})_` : ''}`;
  const blocks = [section(head)];
  const excerpt = excerptText(view);
  if (excerpt) {
    // A run of three backticks would close the fence: break it up with zero-width spaces.
    const body = escapeCut(excerpt.replace(/`{3,}/g, (run) => run.split('').join('\u200b')), EXCERPT_CHARS).text;
    blocks.push(section(`\`\`\`\n${body}\n\`\`\``));
  }
  return blocks;
}
