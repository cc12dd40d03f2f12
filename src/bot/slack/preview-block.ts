/**
 * The picture on a gate card: Slack's image block showing a file uploaded to Slack
 * (`slack_file: { id }`), so the people deciding see what they decide on without opening the
 * thread's files. Kept apart from blocks.ts: it needs a file id only the notifier knows.
 */
import type { types } from '@slack/bolt';
import type { GateCardView } from '../views/types.js';
import { cut } from './mrkdwn.js';
import type { SlackMessage } from './blocks.js';

/** An image to show on a card: the Slack file id of a PNG, JPEG or GIF, and what it shows. */
export interface CardImage {
  fileId: string;
  /** The artifact's name (plain text: Slack never parses alt text or plain_text titles). */
  name: string;
}

/**
 * `message` (a gate card from `gateBlocks`) with the image after the text of what is reviewed,
 * before the tally and the buttons.
 */
export function withCardImage(message: SlackMessage, card: Pick<GateCardView, 'text' | 'redoReason'>, image: CardImage): SlackMessage {
  const block: types.ImageBlock = {
    type: 'image',
    slack_file: { id: image.fileId },
    alt_text: cut(`Preview of ${image.name}`, 2000).text,
    title: { type: 'plain_text', text: cut(image.name, 2000).text },
  };
  const at = 1 + (card.text ? 1 : 0) + (card.redoReason ? 1 : 0);
  return { ...message, blocks: [...message.blocks.slice(0, at), block, ...message.blocks.slice(at)] };
}
