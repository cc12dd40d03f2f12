/**
 * The environment a signoff child process (`startSignoff`) needs to talk to the fake Slack or the
 * fake Discord. The child inherits the test run's environment, so each also empties what would
 * otherwise switch on another mode or platform, whatever the surrounding environment holds.
 */
import { APP_ID, type FakeDiscord } from './fake-discord.js';
import type { FakeSlack } from './fake-slack.js';
import { DISCORD_TOKEN } from './discord-harness.js';
import { APP_TOKEN, BOT_TOKEN, SIGNING_SECRET } from './slack-harness.js';

export interface SlackChildOptions {
  /** Socket Mode (an app token, no signing secret); HTTP mode otherwise (no app token). */
  socket?: boolean;
  /** A bot token of this process's own (the fake accepts any): only so a test can tell whose Slack calls it sees. */
  botToken?: string;
  /** The pace of posts; 50 a second unless a test needs a slow courier. */
  postsPerSecond?: number;
}

/** Slack, against `fake`, in HTTP mode unless `socket`. */
export function slackChildEnv(fake: FakeSlack, o: SlackChildOptions = {}): Record<string, string> {
  return {
    SLACK_BOT_TOKEN: o.botToken ?? BOT_TOKEN,
    SLACK_SIGNING_SECRET: o.socket ? '' : SIGNING_SECRET,
    SLACK_APP_TOKEN: o.socket ? APP_TOKEN : '',
    SLACK_API_URL: fake.apiUrl,
    SIGNOFF_SLACK_POSTS_PER_SECOND: String(o.postsPerSecond ?? 50),
  };
}

/** Discord only, against `fake`: commands are global (no guild), and Slack is off. */
export function discordChildEnv(fake: FakeDiscord): Record<string, string> {
  return { DISCORD_TOKEN, DISCORD_APPLICATION_ID: APP_ID, DISCORD_API_URL: fake.apiUrl, DISCORD_GUILD_ID: '', SLACK_BOT_TOKEN: '' };
}
