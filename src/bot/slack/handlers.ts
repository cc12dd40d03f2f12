/**
 * What signoff does with Slack interactions: the /signoff command, the gate buttons, and the two
 * modals (reject reason, submit form). A replayed payload is applied at most once, and refusals
 * are answered privately (ephemeral): they change nothing. Commands and gate clicks arrive
 * through the inbox (./inbox.ts), already stored and acknowledged: their ack() does nothing and
 * the inbox row is cleared in the same transaction as the change they make (the unit of work's
 * `inboxDone`).
 */
import type { App, ButtonAction } from '@slack/bolt';
import type { Logger } from 'pino';
import type { ChangeOptions, Engine } from '../../orchestrator/engine.js';
import { BEFORE_ACK, claimFirstTime } from '../before-ack.js';
import { executeCommand } from '../commands/execute.js';
import { decidedAlready } from '../decided-already.js';
import { parseCommand } from '../commands/parse.js';
import { parseGateValue, textBlocks } from './blocks.js';
import { unescapeSlackText } from './mrkdwn.js';
import { readReject, readSubmit, rejectModal, submitModal } from './modals.js';
import type { SlackIdentities } from './identities.js';
import { INBOX_KEY } from './inbox.js';
import { NOTE_CALLBACK_ID, noteModal, readNote } from './note-modal.js';
import { pendingBlocks } from './reach-blocks.js';
import type { SlackReach } from './reach.js';

type Context = Record<string, unknown>;

export function registerHandlers(app: App, engine: Engine, identities: SlackIdentities, log: Logger, reach?: SlackReach): void {
  const store = engine.store;
  /** True the first time an interaction is seen; Slack retries and replayed payloads are dropped. */
  const firstTime = async (key: string, context: Context) =>
    // The inbox claimed it when it stored it.
    context[INBOX_KEY] === `slack:${key}` || (await claimFirstTime(store, `slack:${key}`));
  /**
   * Runs a change so that an inbox interaction is cleared in the same transaction as the change
   * it makes: carried out exactly once. A command that changes nothing (a status) clears it after.
   */
  const settle = async <T>(context: Context, change: (opts: ChangeOptions) => Promise<T>): Promise<T> => {
    const key = context[INBOX_KEY];
    if (typeof key !== 'string') return change({});
    const result = await change({ inboxKey: key });
    try {
      await store.inbox.done(key);
    } catch (err) {
      log.warn({ err, key }, 'could not mark a Slack interaction as carried out; the inbox tries again');
    }
    return result;
  };
  const pipelines = () => Object.entries(engine.config.pipelines).map(([name, p]) => ({ name, description: p.description, params: p.params }));

  // What reaches a handler outside the inbox (modal submissions) is carried out (a few
  // milliseconds, plus an identity lookup bounded at 1.5 s) BEFORE it is acknowledged: what Slack
  // shows as accepted is already in the database, so a crash right after the ack loses nothing.
  app.command('/signoff', async ({ command, ack, respond, client, context }) => {
    if (!(await firstTime(`command:${command.trigger_id}`, context))) return void (await ack());
    const parsed = parseCommand(unescapeSlackText(command.text ?? ''));
    const answer = (text: string) => respond({ response_type: 'ephemeral', ...textBlocks(text) });
    if (!parsed.ok) {
      await ack();
      return void (await answer(parsed.message));
    }
    if (parsed.command.name === 'submit-form') {
      await ack();
      await client.views.open({ trigger_id: command.trigger_id, view: submitModal(pipelines(), { channel: command.channel_id }) });
      return;
    }
    const who = await identities.resolve(command.user_id, command.user_name);
    const reply = await settle(context, (opts) => executeCommand(engine, who, parsed.command, { surface: 'slack', channel: command.channel_id }, opts));
    await ack();
    // "What waits for me" links each card and carries its buttons (clicks work like the card's).
    if (reply.pending && reach) return void (await respond({ response_type: 'ephemeral', ...pendingBlocks(reply.pending, engine.now(), await reach.links(reply.pending)) }));
    await answer(reply.text);
  });

  app.action(/^signoff_gate_(approve|approve_note|reject|hold)$/, async ({ ack, body, action: raw, client, respond, context }) => {
    if (body.type !== 'block_actions' || raw.type !== 'button' || !('action_id' in raw)) return void (await ack());
    const action: ButtonAction = raw;
    if (!(await firstTime(`action:${body.user.id}:${action.action_ts}`, context))) return void (await ack());
    // A click on the Home tab has no response_url: its answer is the refreshed tab.
    const say = async (text: string) => {
      if ('response_url' in body && body.response_url) await respond({ response_type: 'ephemeral', replace_original: false, ...textBlocks(text) });
      else if (reach) await reach.homeOpened(body.user.id);
    };
    const gate = parseGateValue(action.value ?? '');
    // Approve and Hold are acknowledged after the decision is stored; the rest at once.
    const dialog = action.action_id === 'signoff_gate_reject' || action.action_id === 'signoff_gate_approve_note';
    if (!gate || dialog) await ack();
    if (!gate) {
      log.warn({ user: body.user.id }, 'a Slack gate button carried a value signoff did not make');
      return void (await say('That button is not one signoff made, so nothing changed. Use the buttons on the gate message, or /signoff status <job>.'));
    }
    const channel = body.channel?.id ?? body.container?.channel_id ?? '';
    if (dialog) {
      const decided = await decidedAlready(engine, gate);
      if (decided) return void (await say(decided));
      const meta = { job: gate.job, stage: gate.stage, round: gate.round, channel, ...(body.message?.thread_ts ? { threadTs: body.message.thread_ts } : {}) };
      await client.views.open({ trigger_id: body.trigger_id, view: action.action_id === 'signoff_gate_reject' ? rejectModal(meta) : noteModal(meta) });
      return;
    }
    const who = await identities.resolve(body.user.id, body.user.username ?? body.user.name);
    const type = action.action_id === 'signoff_gate_hold' ? 'hold' : 'approve';
    const r = await settle(context, (opts) => engine.act(who, gate.job, { type, stage: gate.stage, round: gate.round }, opts));
    await ack();
    if (!r.ok) await say(r.message);
  });

  app.view('signoff_reject', async ({ ack, body, view, client, context }) => {
    const input = readReject(view);
    if ('errors' in input) return void (await ack({ response_action: 'errors', errors: input.errors }));
    if (!(await firstTime(`view:${view.id}`, context))) return void (await ack());
    const { meta } = input;
    const who = await identities.resolve(body.user.id, body.user.name);
    const r = await engine.act(who, meta.job, { type: 'reject', stage: meta.stage, round: meta.round, reason: input.reason }, BEFORE_ACK);
    // Stored first, then the dialog closes; a refusal is answered privately.
    await ack();
    if (!r.ok && meta.channel)
      await client.chat.postEphemeral({ channel: meta.channel, user: body.user.id, ...(meta.threadTs ? { thread_ts: meta.threadTs } : {}), ...textBlocks(r.message) });
  });

  app.view(NOTE_CALLBACK_ID, async ({ ack, body, view, client, context }) => {
    const input = readNote(view);
    if ('errors' in input) return void (await ack({ response_action: 'errors', errors: input.errors }));
    if (!(await firstTime(`view:${view.id}`, context))) return void (await ack());
    const { meta } = input;
    const who = await identities.resolve(body.user.id, body.user.name);
    const r = await engine.act(who, meta.job, { type: 'approve', stage: meta.stage, round: meta.round, ...(input.note ? { reason: input.note } : {}) }, BEFORE_ACK);
    await ack();
    if (!r.ok && meta.channel)
      await client.chat.postEphemeral({ channel: meta.channel, user: body.user.id, ...(meta.threadTs ? { thread_ts: meta.threadTs } : {}), ...textBlocks(r.message) });
  });

  app.view('signoff_submit', async ({ ack, body, view, client, context }) => {
    const input = readSubmit(view);
    if ('errors' in input) return void (await ack({ response_action: 'errors', errors: input.errors }));
    const claim = `view:${view.id}:${view.hash ?? ''}`;
    if (!(await firstTime(claim, context))) return void (await ack());
    // Identity lookups are bounded (see SlackIdentities), so this stays inside Slack's 3 s.
    const who = await identities.resolve(body.user.id, body.user.name);
    const r = await engine.submit(who, { pipeline: input.pipeline, brief: input.brief, params: input.params, origin: { surface: 'slack', ...(input.channel ? { channel: input.channel } : {}) } }, BEFORE_ACK);
    if (!r.ok) {
      // A refused form stays open with the reason; its corrected resubmission must go through.
      await store.outbox.releaseClaim(`slack:${claim}`);
      const field = /parameter/i.test(r.message) ? 'params' : 'brief';
      return void (await ack({ response_action: 'errors', errors: { [field]: r.message.slice(0, 150) } }));
    }
    await ack();
    if (input.channel) await client.chat.postEphemeral({ channel: input.channel, user: body.user.id, ...textBlocks(r.message) });
  });
}
