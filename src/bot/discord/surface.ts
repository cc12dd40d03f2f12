/**
 * The Discord surface on the real discord.js: a gateway client with the least intents (Guilds;
 * no message content), interactions in, outbox deliveries out through the bot's REST client.
 * The REST client waits out 429s by itself and retries 5xx a few times; what still fails stays
 * in the outbox for a later try.
 *
 * Only the chat courier (../../cluster/courier.ts) connects the gateway and delivers the outbox:
 * whether each of several gateway sessions gets every interaction is not documented, so one
 * holds it. Every replica serves the HTTP interactions endpoint. A new gateway client is made
 * for each courier term: a discord.js client is not made to log in again after `destroy()`.
 */
import { Client, Events, GatewayIntentBits, REST, type ClientOptions, type RESTOptions } from 'discord.js';
import type { Logger } from 'pino';
import type { DiscordSettings } from '../../config/env.js';
import type { Engine } from '../../orchestrator/engine.js';
import type { CourierTerm } from '../../cluster/courier.js';
import { NotCourierError, OutboxDrainer } from '../outbox-drainer.js';
import type { ChatSurface, RawHttpHandler } from '../port.js';
import { discordInteractionsEndpoint } from './interactions-endpoint.js';
import { registerHandlers } from './handlers.js';
import { DiscordNotifier } from './notifier.js';

export class DiscordSurface implements ChatSurface {
  readonly name = 'discord';
  private readonly clientOptions: ClientOptions;
  /** The gateway client of the current courier term, if this replica is the courier. */
  private client: Client | undefined;
  private readonly drainer: OutboxDrainer;
  private unsubscribe: (() => void) | undefined;
  private term: CourierTerm | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly settings: DiscordSettings,
    private readonly log: Logger,
  ) {
    const rest: Partial<RESTOptions> = {
      ...(settings.apiUrl ? { api: settings.apiUrl } : {}),
      retries: 3,
      timeout: 15_000,
      // Node's own fetch, not @discordjs/rest's bundled undici 6: @slack/bolt brings undici 7,
      // whose process-wide dispatcher breaks undici 6's multipart uploads ("action is not a
      // function"), which would stall every message with files.
      makeRequest: fetch as unknown as RESTOptions['makeRequest'],
    };
    this.clientOptions = {
      // Server Members is privileged: asked for only to expand roles for DMs (DISCORD_EXPAND_ROLES).
      intents: settings.expandRoles ? [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMembers] : [GatewayIntentBits.Guilds],
      rest,
      // Nothing signoff sends may ping anyone, whatever a brief or a reason contains.
      allowedMentions: { parse: [], repliedUser: false },
    };
    // Deliveries use a REST client of their own, which outlives each term's gateway client.
    const notifier = new DiscordNotifier({
      rest: new REST(rest).setToken(settings.token), store: engine.store, config: engine.config, log, contents: engine.contents,
      ...(settings.expandRoles ? { roleMembers: (channelId: string, roles: string[]) => this.roleMembers(channelId, roles) } : {}),
    });
    this.drainer = new OutboxDrainer({ store: engine.store, target: 'discord', deliver: (job, rows) => notifier.deliver(job, rows), editStatus: (job) => notifier.editStatus(job), log, idleMs: 1_000, mayDeliver: () => this.term?.mayDeliver() ?? false });
  }

  /** POST /discord/interactions when DISCORD_PUBLIC_KEY is set (the Interactions Endpoint URL). */
  httpEndpoints(): Record<string, RawHttpHandler> {
    if (!this.settings.publicKey) return {};
    return { '/discord/interactions': discordInteractionsEndpoint(this.engine, this.settings.publicKey, this.log.child({ component: 'discord' })) };
  }

  /** Members holding any of `roles` in the guild of a channel (all members fetched over the gateway; needs GuildMembers). */
  private async roleMembers(channelId: string, roles: string[]): Promise<string[]> {
    if (!this.client) throw new NotCourierError();
    const channel = await this.client.channels.fetch(channelId);
    const guild = channel && 'guild' in channel ? channel.guild : undefined;
    if (!guild) return [];
    const members = await guild.members.fetch({ time: 10_000 });
    return [...members.values()].filter((m) => !m.user.bot && roles.some((r) => m.roles.cache.has(r))).map((m) => m.id);
  }

  /** Every replica: the interactions endpoint is served from signoff's HTTP port already. */
  async start(): Promise<void> {
    this.log.info({ interactionsEndpoint: this.settings.publicKey ? '/discord/interactions' : null }, 'Discord surface started');
  }

  async stop(): Promise<void> {}

  /** Connects the gateway (resolves once it is ready), then delivers the outbox while the term lasts. */
  async startCourier(term: CourierTerm): Promise<void> {
    const client = new Client(this.clientOptions);
    client.on(Events.Error, (err) => this.log.error({ err }, 'Discord client error'));
    registerHandlers(client, this.engine, this.log.child({ component: 'discord' }));
    const ready = new Promise<void>((resolve) => client.once(Events.ClientReady, () => resolve()));
    try {
      await client.login(this.settings.token);
      await ready;
    } catch (err) {
      await client.destroy().catch(() => undefined);
      throw err;
    }
    this.client = client;
    this.term = term;
    this.unsubscribe = this.engine.onEvent(() => this.drainer.poke());
    this.drainer.start();
    this.log.info({ user: client.user?.tag }, 'Discord gateway connected (chat courier)');
  }

  async stopCourier(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.drainer.stop();
    this.term = undefined;
    const client = this.client;
    this.client = undefined;
    await client?.destroy();
  }

  poke(): void {
    this.drainer.poke();
  }
}
