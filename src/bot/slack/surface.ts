/**
 * The Slack surface on the real @slack/bolt. Socket Mode when SLACK_APP_TOKEN is set (no public
 * URL needed); otherwise HTTP mode at POST /slack/events on signoff's own port, where commands
 * and gate clicks go through the inbox (stored, then acknowledged at once, then carried out) and
 * everything else through Bolt's receiver. Outbound messages come from the outbox, in order per job.
 */
import { App, HTTPModuleFunctions, HTTPReceiver, LogLevel, webApi } from '@slack/bolt';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { SlackSettings } from '../../config/env.js';
import type { Engine } from '../../orchestrator/engine.js';
import { StartupError } from '../../startup-error.js';
import { OutboxDrainer } from '../outbox-drainer.js';
import type { ChatSurface } from '../port.js';
import { boltLogger } from './bolt-logger.js';
import { registerHandlers } from './handlers.js';
import { SlackIdentities } from './identities.js';
import { SlackInbox } from './inbox.js';
import { SlackNotifier } from './notifier.js';

export class SlackSurface implements ChatSurface {
  readonly name = 'slack';
  private readonly app: App;
  private readonly receiver: HTTPReceiver | undefined;
  private readonly drainer: OutboxDrainer;
  private readonly inbox: SlackInbox | undefined;
  private unsubscribe: (() => void) | undefined;

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
      this.app = new App({ token: settings.botToken, appToken: settings.appToken, socketMode: true, clientOptions, logger, logLevel: LogLevel.WARN, deferInitialization: true });
    } else {
      this.receiver = new HTTPReceiver({ signingSecret: settings.signingSecret!, endpoints: '/slack/events', logger, logLevel: LogLevel.WARN });
      this.app = new App({ token: settings.botToken, receiver: this.receiver, clientOptions, logger, logLevel: LogLevel.WARN, deferInitialization: true });
      this.inbox = new SlackInbox(this.app, engine.store, settings.signingSecret!, log);
    }
    this.app.error(async (err) => log.error({ err }, 'a Slack handler failed'));
    registerHandlers(this.app, engine, new SlackIdentities(this.app.client, engine.config.operators, log), log);
    const poster = new webApi.WebClient(settings.botToken, { ...clientOptions, retryConfig: { retries: 0 }, logger });
    const notifier = new SlackNotifier({ client: this.app.client, poster, store: engine.store, config: engine.config, log, postsPerSecond: settings.postsPerSecond });
    this.drainer = new OutboxDrainer({ store: engine.store, target: 'slack', deliver: (job, rows) => notifier.deliver(job, rows), editStatus: (job) => notifier.editStatus(job), log, idleMs: 1_000 });
  }

  get mode(): 'socket' | 'http' {
    return this.receiver ? 'http' : 'socket';
  }

  registerRoutes(server: FastifyInstance): void {
    const receiver = this.receiver;
    if (!receiver) return;
    const inbox = this.inbox!;
    server.register(async (scope) => {
      // The raw body is kept: the signature covers its exact bytes.
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: HTTPModuleFunctions.defaultBodyLimit }, (_req, body, done) => done(null, body));
      // No browser reads these answers: the security headers of the console and API are left off.
      scope.post('/slack/events', { helmet: false }, (req, reply) => {
        // Bolt refuses old timestamps but not ones in the future; a request signed far ahead
        // would stay replayable for longer than signoff remembers interactions.
        const ts = Number(req.headers['x-slack-request-timestamp']);
        if (Number.isFinite(ts) && Math.abs(Date.now() / 1000 - ts) > 300) return reply.code(401).send({ error: 'stale_request', message: 'The request timestamp is more than 5 minutes off.' });
        const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        const interaction = inbox.check(req.headers, raw);
        if (interaction) {
          inbox.store(interaction).then(
            () => reply.code(200).send(),
            (err: unknown) => {
              // Not stored, so not acknowledged: Slack tells the person it failed; nothing is half-done.
              this.log.error({ err }, 'could not store a Slack interaction');
              reply.code(503).send({ error: 'busy', message: 'signoff could not store the interaction; try again.' });
            },
          );
          return reply;
        }
        // Bolt reads the body it finds already buffered on the request.
        Object.assign(req.raw, { rawBody: raw });
        reply.hijack();
        receiver.requestListener(req.raw, reply.raw);
      });
    });
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
    this.inbox?.start();
    this.unsubscribe = this.engine.onEvent(() => this.drainer.poke());
    this.drainer.start();
    this.log.info({ mode: this.mode }, 'Slack surface started');
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.inbox?.stop();
    await this.drainer.stop();
    if (this.settings.appToken) await this.app.stop();
  }

  poke(): void {
    this.drainer.poke();
  }
}
