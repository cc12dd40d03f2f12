/**
 * The Discord surface on the real discord.js: a gateway client with the least intents (Guilds;
 * no message content), interactions in, outbox deliveries out through the bot's REST client.
 * The REST client waits out 429s by itself and retries 5xx a few times; what still fails stays
 * in the outbox for a later try.
 */
import { Client, Events, GatewayIntentBits, type RESTOptions } from 'discord.js';
import type { Logger } from 'pino';
import type { DiscordSettings } from '../../config/env.js';
import type { Engine } from '../../orchestrator/engine.js';
import { OutboxDrainer } from '../outbox-drainer.js';
import type { ChatSurface, RawHttpHandler } from '../port.js';
import { discordInteractionsEndpoint } from './interactions-endpoint.js';
import { registerHandlers } from './handlers.js';
import { DiscordNotifier } from './notifier.js';

export class DiscordSurface implements ChatSurface {
  readonly name = 'discord';
  private readonly client: Client;
  private readonly drainer: OutboxDrainer;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly settings: DiscordSettings,
    private readonly log: Logger,
  ) {
    this.client = new Client({
      // Server Members is privileged: asked for only to expand roles for DMs (DISCORD_EXPAND_ROLES).
      intents: settings.expandRoles ? [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMembers] : [GatewayIntentBits.Guilds],
      rest: {
        ...(settings.apiUrl ? { api: settings.apiUrl } : {}),
        retries: 3,
        timeout: 15_000,
        // Node's own fetch, not @discordjs/rest's bundled undici 6: @slack/bolt brings undici 7,
        // whose process-wide dispatcher breaks undici 6's multipart uploads ("action is not a
        // function"), which would stall every message with files.
        makeRequest: fetch as unknown as RESTOptions['makeRequest'],
      },
      // Nothing signoff sends may ping anyone, whatever a brief or a reason contains.
      allowedMentions: { parse: [], repliedUser: false },
    });
    this.client.on(Events.Error, (err) => log.error({ err }, 'Discord client error'));
    registerHandlers(this.client, engine, log.child({ component: 'discord' }));
    const notifier = new DiscordNotifier({
      rest: this.client.rest, store: engine.store, config: engine.config, log, contents: engine.contents,
      ...(settings.expandRoles ? { roleMembers: (channelId: string, roles: string[]) => this.roleMembers(channelId, roles) } : {}),
    });
    this.drainer = new OutboxDrainer({ store: engine.store, target: 'discord', deliver: (job, rows) => notifier.deliver(job, rows), editStatus: (job) => notifier.editStatus(job), log, idleMs: 1_000 });
  }

  /** POST /discord/interactions when DISCORD_PUBLIC_KEY is set (the Interactions Endpoint URL). */
  httpEndpoints(): Record<string, RawHttpHandler> {
    if (!this.settings.publicKey) return {};
    return { '/discord/interactions': discordInteractionsEndpoint(this.engine, this.settings.publicKey, this.log.child({ component: 'discord' })) };
  }

  /** Members holding any of `roles` in the guild of a channel (all members fetched over the gateway; needs GuildMembers). */
  private async roleMembers(channelId: string, roles: string[]): Promise<string[]> {
    const channel = await this.client.channels.fetch(channelId);
    const guild = channel && 'guild' in channel ? channel.guild : undefined;
    if (!guild) return [];
    const members = await guild.members.fetch({ time: 10_000 });
    return [...members.values()].filter((m) => !m.user.bot && roles.some((r) => m.roles.cache.has(r))).map((m) => m.id);
  }

  async start(): Promise<void> {
    const ready = new Promise<void>((resolve) => this.client.once(Events.ClientReady, () => resolve()));
    await this.client.login(this.settings.token);
    await ready;
    this.unsubscribe = this.engine.onEvent(() => this.drainer.poke());
    this.drainer.start();
    this.log.info({ user: this.client.user?.tag, interactionsEndpoint: this.settings.publicKey ? '/discord/interactions' : null }, 'Discord surface started');
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    await this.drainer.stop();
    await this.client.destroy();
  }

  poke(): void {
    this.drainer.poke();
  }
}
