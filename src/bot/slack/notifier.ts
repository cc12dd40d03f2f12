/**
 * Delivers a job's outbox rows to Slack: the root status message (posted once, then edited),
 * one message per gate (edited through its life), thread replies for notices with their files.
 * Every part is idempotent: the ts of each message made is stored (chat_refs) before the row is
 * marked delivered, so a retried batch or a restart edits instead of posting again.
 */
import fs from 'node:fs';
import type { App } from '@slack/bolt';
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.js';
import type { Artifact, OutboxRow, Store } from '../../store/store.js';
import type { JobAggregate } from '../../orchestrator/types.js';
import { deliverBatch } from '../deliver-batch.js';
import { PermanentDeliveryError } from '../outbox-drainer.js';
import { gateCardView } from '../views/gate-card.js';
import { jobStatusView } from '../views/job-status.js';
import { noticeFor } from '../views/notice.js';
import { textExcerpts } from '../views/excerpts.js';
import { gateBlocks, noticeBlocks, statusBlocks } from './blocks.js';
import { ChannelPacer } from './pacer.js';

type WebClient = App['client'];
const TARGET = 'slack';
/** Slack errors that retrying will not fix. */
const PERMANENT = new Set(['channel_not_found', 'not_in_channel', 'is_archived', 'invalid_blocks', 'msg_too_long', 'invalid_auth', 'account_inactive', 'token_revoked', 'no_permission', 'missing_scope']);

export interface SlackNotifierOptions {
  client: WebClient;
  store: Store;
  config: Config;
  log: Logger;
  postsPerSecond: number;
}

export class SlackNotifier {
  private readonly pacer: ChannelPacer;

  constructor(private readonly o: SlackNotifierOptions) {
    this.pacer = new ChannelPacer(o.postsPerSecond);
  }

  async deliver(jobId: number, rows: OutboxRow[]): Promise<void> {
    const { store } = this.o;
    const agg = store.jobs.load(jobId);
    if (!agg) return;
    try {
      const root = await this.ensureRoot(agg);
      const artifacts = store.artifacts.current(jobId);
      await deliverBatch(rows, {
        gate: (key, at) => this.upsertGate(agg, artifacts, root, key, at),
        notice: (row) => this.postNotice(agg, artifacts, root, row),
        status: async () => void (await this.o.client.chat.update({ channel: root.channel, ts: root.messageId, ...this.status(agg) })),
      });
    } catch (err) {
      throw classify(err);
    }
  }

  private status(loaded: JobAggregate) {
    // Read again: the batch may have waited on the network, and the queue moves meanwhile.
    const agg = this.o.store.jobs.load(loaded.job.id) ?? loaded;
    const queue = agg.job.state === 'queued' ? this.o.store.queries.queuePosition(agg.job.id) : null;
    return statusBlocks(jobStatusView(agg, queue), { submitterMention: true });
  }

  private async ensureRoot(agg: JobAggregate) {
    const { store, config, client } = this.o;
    const existing = store.outbox.getRef(TARGET, agg.job.id, 'root');
    if (existing) return existing;
    const channel = config.channels.slack ?? (agg.job.origin.surface === 'slack' ? agg.job.origin.channel : undefined);
    if (!channel) throw new PermanentDeliveryError(`job ${agg.job.id} has no Slack channel: set channels.slack in the config`);
    const message = this.status(agg);
    await this.pacer.wait(channel);
    const posted = await client.chat.postMessage({ channel, ...message, unfurl_links: false, unfurl_media: false });
    const ref = { channel: String(posted.channel ?? channel), messageId: String(posted.ts), threadId: null };
    store.outbox.putRef(TARGET, agg.job.id, 'root', ref);
    if (JSON.stringify(message.blocks).includes('full brief in the thread')) {
      await client.filesUploadV2({ channel_id: ref.channel, thread_ts: ref.messageId, content: agg.job.brief, filename: 'brief.txt', title: 'Full brief' });
    }
    return ref;
  }

  private async upsertGate(agg: JobAggregate, artifacts: Artifact[], root: { channel: string; messageId: string }, key: string, at: { stage: string; round: number }) {
    const gate = agg.gates.find((g) => g.stage === at.stage && g.round === at.round);
    if (!gate) return;
    const card = gateCardView(agg, gate, artifacts);
    const message = gateBlocks(card, { excerpts: textExcerpts(artifacts.filter((a) => card.artifacts.some((c) => c.id === a.id)), 600) });
    const ref = this.o.store.outbox.getRef(TARGET, agg.job.id, key);
    if (ref) {
      await this.o.client.chat.update({ channel: ref.channel, ts: ref.messageId, ...message });
      return;
    }
    await this.pacer.wait(root.channel);
    const posted = await this.o.client.chat.postMessage({ channel: root.channel, thread_ts: root.messageId, ...message, unfurl_links: false });
    this.o.store.outbox.putRef(TARGET, agg.job.id, key, { channel: root.channel, messageId: String(posted.ts), threadId: root.messageId });
  }

  private async postNotice(agg: JobAggregate, artifacts: Artifact[], root: { channel: string; messageId: string }, row: OutboxRow) {
    const key = `notice:${row.event.seq}`;
    if (this.o.store.outbox.getRef(TARGET, agg.job.id, key)) return;
    const notice = noticeFor(row.event, agg, artifacts);
    if (!notice) return;
    const message = noticeBlocks(notice);
    const files = notice.artifacts.map((a) => artifacts.find((f) => f.id === a.id)).filter((a): a is Artifact => a !== undefined && fs.existsSync(a.path));
    let ts: string;
    if (files.length) {
      // One upload with the notice as its comment: the files and the text arrive as one reply.
      const r = await this.o.client.filesUploadV2({
          channel_id: root.channel,
          thread_ts: root.messageId,
          initial_comment: message.text,
          file_uploads: files.map((f) => ({ file: f.path, filename: f.name.split('/').pop()!, title: `${f.stage}: ${f.name}` })),
        });
      ts = String((r as { files?: { id?: string }[] }).files?.[0]?.id ?? 'uploaded');
    } else {
      await this.pacer.wait(root.channel);
      const posted = await this.o.client.chat.postMessage({ channel: root.channel, thread_ts: root.messageId, ...message, unfurl_links: false });
      ts = String(posted.ts);
    }
    this.o.store.outbox.putRef(TARGET, agg.job.id, key, { channel: root.channel, messageId: ts, threadId: root.messageId });
  }

}


function classify(err: unknown): unknown {
  const code = (err as { data?: { error?: string } })?.data?.error;
  if (code && PERMANENT.has(code)) return new PermanentDeliveryError(`Slack answered ${code}`, { cause: err });
  return err;
}
