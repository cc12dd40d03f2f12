/**
 * The Slack surface on the real @slack/bolt. Socket Mode when SLACK_APP_TOKEN is set (no public
 * URL needed); otherwise HTTP mode at POST /slack/events on signoff's own port. In both, commands
 * and gate clicks go through the inbox (stored, then acknowledged at once, then carried out) and
 * everything else through Bolt's receiver. Outbound messages come from the outbox, in order per job,
 * delivered only by the chat courier (`startCourier`); every replica takes requests and answers.
 */
import { App, HTTPReceiver, LogLevel, SocketModeReceiver, webApi } from '@slack/bolt';
import type { Logger } from 'pino';
import type { SlackSettings } from '../../config/env.js';
import type { Engine } from '../../orchestrator/engine.js';
import type { CourierTerm } from '../../cluster/courier.js';
import { StartupError } from '../../startup-error.js';
import { OutboxDrainer } from '../outbox-drainer.js';
import type { ChatSurface, RawHttpHandler } from '../port.js';
import { boltLogger } from './bolt-logger.js';
import { registerHandlers } from './handlers.js';
import { registerHomeTab } from './home-tab.js';
import { SlackIdentities } from './identities.js';
import { SlackInbox } from './inbox.js';
import { slackEventsEndpoint } from './events-endpoint.js';
import { routeSocketThroughInbox } from './socket-inbox.js';
import { SlackNotifier } from './notifier.js';

export class SlackSurface implements ChatSurface {
  readonly name = 'slack';
  private readonly app: App;
  private readonly receiver: HTTPReceiver | undefined;
  private readonly drainer: OutboxDrainer;
  private readonly inbox: SlackInbox | undefined;
  private unsubscribe: (() => void) | undefined;
  private term: CourierTerm | undefined;

  constructor(
    private readonly engine: Engine,
    private readonly settings: SlackSettings,
    private readonly log: Logger,
  ) {
    const clientOptions = {
      ...(settings.apiUrl ? { slackApiUrl: settings.apiUrl.endsWith('/') ? settings.apiUrl : `${settings.apiUrl}/` } : {}),
      // Bounded retries: a dead Slack must not hold a delivery for half an hour; the outbox
      // keeps the row and tries again later. 429s are retried after Retry-After by the client.
      retryConfig: { retries: 3, factor: 2, minTimeout: 200, maxTimeout: 5_000 },
    };
    const logger = boltLogger(log);
    if (settings.appToken) {
      const socket = new SocketModeReceiver({ appToken: settings.appToken, logger, logLevel: LogLevel.WARN, installerOptions: { clientOptions } });
      this.app = new App({ token: settings.botToken, receiver: socket, clientOptions, logger, logLevel: LogLevel.WARN, deferInitialization: true });
      this.inbox = new SlackInbox(this.app, engine.store, undefined, log);
      routeSocketThroughInbox(socket, this.inbox, log);
    } else {
      this.receiver = new HTTPReceiver({ signingSecret: settings.signingSecret!, endpoints: '/slack/events', logger, logLevel: LogLevel.WARN });
      this.app = new App({ token: settings.botToken, receiver: this.receiver, clientOptions, logger, logLevel: LogLevel.WARN, deferInitialization: true });
      this.inbox = new SlackInbox(this.app, engine.store, settings.signingSecret!, log);
    }
    this.app.error(async (err) => log.error({ err }, 'a Slack handler failed'));
    const identities = new SlackIdentities(this.app.client, engine.config.operators, log);
    const poster = new webApi.WebClient(settings.botToken, { ...clientOptions, retryConfig: { retries: 0 }, logger });
    const mayDeliver = () => this.term?.mayDeliver() ?? false;
    const notifier = new SlackNotifier({ client: this.app.client, poster, store: engine.store, contents: engine.contents, config: engine.config, log, postsPerSecond: settings.postsPerSecond, identities, clock: { now: () => engine.now() }, mayPost: mayDeliver });
    registerHandlers(this.app, engine, identities, log, notifier.reach);
    registerHomeTab(this.app, notifier.reach);
    this.drainer = new OutboxDrainer({ store: engine.store, target: 'slack', deliver: (job, rows) => notifier.deliver(job, rows), editStatus: (job) => notifier.editStatus(job), log, idleMs: 1_000, mayDeliver });
  }

  get mode(): 'socket' | 'http' {
    return this.receiver ? 'http' : 'socket';
  }

  httpEndpoints(): Record<string, RawHttpHandler> {
    if (!this.receiver || !this.inbox) return {};
    return { '/slack/events': slackEventsEndpoint(this.inbox, this.receiver, this.log) };
  }

  async start(): Promise<void> {
    // Bolt checks the token (auth.test) here rather than in its constructor, where an unreachable
    // Slack would be an unhandled rejection that ends the process.
    try {
      await this.app.init();
    } catch (cause) {
      throw new StartupError(
        `Slack did not accept SLACK_BOT_TOKEN or could not be reached (auth.test: ${(cause as Error).message}). Check the token and the network${this.settings.apiUrl ? ` (SLACK_API_URL=${this.settings.apiUrl})` : ''}, or unset SLACK_BOT_TOKEN to run without Slack.`,
        { cause },
      );
    }
    if (this.settings.appToken) await this.app.start();
    await this.inbox?.start();
    this.log.info({ mode: this.mode }, 'Slack surface started');
  }

  /**
   * Delivers the outbox while this replica is the courier. Local commits poke the drainer; rows
   * other replicas write are found by its idle poll (every second) or a poke from the cluster's
   * event feed (Courier.poke).
   */
  async startCourier(term: CourierTerm): Promise<void> {
    this.term = term;
    this.unsubscribe = this.engine.onEvent(() => this.drainer.poke());
    this.drainer.start();
  }

  async stopCourier(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.drainer.stop();
    this.term = undefined;
  }

  async stop(): Promise<void> {
    this.inbox?.stop();
    if (this.settings.appToken) await this.app.stop();
  }

  poke(): void {
    this.drainer.poke();
  }
}
